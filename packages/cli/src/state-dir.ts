/**
 * Where a component keeps its state when no flag says: under
 * /var/lib/flotilla as root (what an operator expects of a system service,
 * like /var/lib/kubelet), else under ~/.flotilla — never relative to the
 * working directory, so a process started from anywhere finds its state.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The default state directory of one component, e.g. `/var/lib/flotilla/agent`. */
export function defaultStateDir(component: string, uid: number | undefined = process.getuid?.()): string {
  return uid === 0 ? join('/var/lib/flotilla', component) : join(homedir(), '.flotilla', component);
}
