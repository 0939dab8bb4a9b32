/** Prometheus text exposition of several processes served as one (workers behind one address). */
/** Families whose samples are per process and must not be summed across workers. */
const PER_PROCESS = /^(process_|nodejs_)/;

/**
 * Merges the exposition texts of several processes (the ingress's or the
 * apiserver's workers) into one: samples with the same name and labels are summed (counters and
 * histograms add up across workers), HELP/TYPE kept once per family, and
 * the per-process families (`process_*`, `nodejs_*`) taken from the first
 * text only, which is the primary's.
 */
export function mergeExpositions(texts: readonly string[]): string {
  const families = new Map<string, { meta: string[]; samples: Map<string, number> }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { meta: [], samples: new Map() }));
    return f;
  };
  texts.forEach((text, idx) => {
    let current = '';
    for (const line of text.split('\n')) {
      if (!line) continue;
      if (line.startsWith('#')) {
        const [, kind, name] = line.split(' ', 3);
        if (!name || (kind !== 'HELP' && kind !== 'TYPE')) continue;
        current = name;
        const f = family(name);
        if (f.meta.length < 2 && !f.meta.some((m) => m.startsWith(`# ${kind} `))) f.meta.push(line);
        continue;
      }
      const sp = line.lastIndexOf(' ');
      const series = line.slice(0, sp);
      if (idx > 0 && PER_PROCESS.test(series)) continue;
      const f = family(current || series.split('{')[0]!);
      f.samples.set(series, (f.samples.get(series) ?? 0) + Number(line.slice(sp + 1)));
    }
  });
  const out: string[] = [];
  for (const f of families.values()) {
    out.push(...f.meta);
    for (const [series, v] of f.samples) out.push(`${series} ${v}`);
  }
  return `${out.join('\n')}\n`;
}
