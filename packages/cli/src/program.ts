import { Command } from 'commander';
import { agentCommand } from './commands/agent.js';
import { apiserverCommand } from './commands/apiserver.js';
import { controllerManagerCommand } from './commands/controller-manager.js';
import { dnsCommand } from './commands/dns.js';
import { hostRoutesCommand } from './commands/host-routes.js';
import { lbCommand } from './commands/lb.js';
import { ingressCommand } from './commands/ingress.js';
import { kubeconfigCommand } from './commands/kubeconfig.js';
import { proxyCommand } from './commands/proxy.js';
import { schedulerCommand } from './commands/scheduler.js';
import { tokenCommand } from './commands/token.js';

/**
 * The `flotilla` command: one sub-command per server component (like k3s),
 * plus small tools. New components (agent, scheduler, controller-manager,
 * proxy, ingress) add one file under commands/ and one line here.
 */
export function createProgram(): Command {
  const program = new Command('flotilla')
    .description('Flotilla: a container orchestrator that speaks the Kubernetes API')
    .showHelpAfterError('(add --help for usage)');
  for (const cmd of [apiserverCommand(), agentCommand(), schedulerCommand(), controllerManagerCommand(), hostRoutesCommand(), lbCommand(), ingressCommand(), tokenCommand(), kubeconfigCommand(), dnsCommand(), proxyCommand()]) {
    program.addCommand(cmd.showHelpAfterError('(add --help for usage)'));
  }
  return program;
}

/** Parses argv and runs the chosen sub-command; errors are printed, not thrown, and exit 1. */
export async function main(argv: string[]): Promise<void> {
  try {
    await createProgram().parseAsync(argv);
  } catch (err) {
    process.stderr.write(`flotilla: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
