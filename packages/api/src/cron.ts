/**
 * Standard 5-field cron schedules as Kubernetes' CronJob reads them (the
 * robfig/cron "standard" parser): minute hour day-of-month month
 * day-of-week, with `*`, `?`, ranges, lists, steps, month and weekday
 * names, the `@hourly`-style macros and an optional `CRON_TZ=`/`TZ=`
 * prefix. Error messages are robfig's, so a 422 reads as Kubernetes'.
 * Times are computed on the wall clock of an IANA time zone (UTC unless
 * one is given), so `0 9 * * *` in `Europe/Berlin` is 09:00 there across
 * daylight-saving changes.
 */

/** A parsed schedule: the allowed values of each field. */
export interface CronSchedule {
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  daysOfMonth: ReadonlySet<number>;
  months: ReadonlySet<number>;
  /** 0 = Sunday … 6 = Saturday. */
  daysOfWeek: ReadonlySet<number>;
  /** When day-of-month or day-of-week is `*` (or `?`), both must match; otherwise either may (cron's rule). */
  dayStar: boolean;
  /** The zone of a `CRON_TZ=`/`TZ=` prefix, if any. */
  timeZone?: string;
}

interface Bounds {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const MONTHS: Record<string, number> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };
const DAYS: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const FIELDS: Bounds[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: MONTHS },
  { min: 0, max: 6, names: DAYS },
];

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

function parseNumber(expr: string, names: Record<string, number> | undefined): number {
  const named = names?.[expr.toLowerCase()];
  if (named !== undefined) return named;
  if (!/^-?\d+$/.test(expr)) throw new Error(`failed to parse int from ${expr}: strconv.Atoi: parsing ${JSON.stringify(expr)}: invalid syntax`);
  const n = Number(expr);
  if (n < 0) throw new Error(`negative number (${n}) not allowed: ${expr}`);
  return n;
}

/** One comma-separated part of a field: `*`, `N`, `N-M`, each optionally `/step`. Returns whether it was a bare star. */
function parseRange(expr: string, b: Bounds, out: Set<number>): boolean {
  const rangeAndStep = expr.split('/');
  const lowAndHigh = rangeAndStep[0]!.split('-');
  const single = lowAndHigh.length === 1;
  let start: number;
  let end: number;
  let star = false;
  if (lowAndHigh[0] === '*' || lowAndHigh[0] === '?') {
    start = b.min;
    end = b.max;
    star = true;
  } else {
    start = parseNumber(lowAndHigh[0]!, b.names);
    if (lowAndHigh.length === 1) end = start;
    else if (lowAndHigh.length === 2) end = parseNumber(lowAndHigh[1]!, b.names);
    else throw new Error(`too many hyphens: ${expr}`);
  }
  let step = 1;
  if (rangeAndStep.length === 2) {
    step = parseNumber(rangeAndStep[1]!, undefined);
    // `N/step` means N through the maximum.
    if (single && !star) end = b.max;
    if (step > 1) star = false;
  } else if (rangeAndStep.length > 2) {
    throw new Error(`too many slashes: ${expr}`);
  }
  if (start < b.min) throw new Error(`beginning of range (${start}) below minimum (${b.min}): ${expr}`);
  if (end > b.max) throw new Error(`end of range (${end}) above maximum (${b.max}): ${expr}`);
  if (start > end) throw new Error(`beginning of range (${start}) beyond end of range (${end}): ${expr}`);
  if (step === 0) throw new Error(`step of range should be a positive number: ${expr}`);
  for (let i = start; i <= end; i += step) out.add(i);
  return star;
}

function parseField(field: string, b: Bounds): { values: Set<number>; star: boolean } {
  const values = new Set<number>();
  let star = false;
  for (const part of field.split(',')) star = parseRange(part, b, values) || star;
  return { values, star };
}

/**
 * Parses a schedule; throws an Error whose message is robfig/cron's
 * (`end of range (61) above maximum (59): 61`) on anything invalid.
 */
export function parseCronSchedule(spec: string): CronSchedule {
  let s = spec.trim();
  if (s.length === 0) throw new Error('empty spec string');
  let timeZone: string | undefined;
  if (s.startsWith('TZ=') || s.startsWith('CRON_TZ=')) {
    const sp = s.indexOf(' ');
    const eq = s.indexOf('=');
    timeZone = sp < 0 ? s.slice(eq + 1) : s.slice(eq + 1, sp);
    if (!isValidTimeZone(timeZone)) throw new Error(`provided bad location ${timeZone}: unknown time zone ${timeZone}`);
    s = sp < 0 ? '' : s.slice(sp).trim();
  }
  if (s.startsWith('@')) {
    const expanded = MACROS[s.toLowerCase()];
    if (!expanded) throw new Error(`unrecognized descriptor: ${s}`);
    s = expanded;
  }
  const fields = s.split(/\s+/).filter(Boolean);
  if (fields.length !== 5) throw new Error(`expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`);
  const parsed = fields.map((f, i) => parseField(f, FIELDS[i]!));
  return {
    minutes: parsed[0]!.values,
    hours: parsed[1]!.values,
    daysOfMonth: parsed[2]!.values,
    months: parsed[3]!.values,
    daysOfWeek: parsed[4]!.values,
    dayStar: parsed[2]!.star || parsed[4]!.star,
    ...(timeZone ? { timeZone } : {}),
  };
}

const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, f);
  }
  return f;
}

/** True for an IANA zone name this runtime knows (`UTC`, `Europe/Berlin`); `Local` is not explicit and is refused. */
export function isValidTimeZone(timeZone: string): boolean {
  if (!timeZone || timeZone.toLowerCase() === 'local' || !/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(timeZone)) return false;
  try {
    formatFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock time in `timeZone` at `instant`, as milliseconds of a UTC date with the same fields. */
function wallClock(instant: number, timeZone: string): number {
  if (timeZone === 'UTC') return instant;
  const parts: Record<string, number> = {};
  for (const p of formatFor(timeZone).formatToParts(new Date(instant))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) + (instant % 1000 + 1000) % 1000;
}

/** The instant whose wall clock in `timeZone` is `wall`, or undefined in a daylight-saving gap. */
function instantOf(wall: number, timeZone: string): number | undefined {
  if (timeZone === 'UTC') return wall;
  // Two rounds settle the offset; the earlier of two readings wins in a repeated (autumn) hour.
  const guess = wall - (wallClock(wall, timeZone) - wall);
  const candidates = [guess, wall - (wallClock(guess, timeZone) - guess)];
  const ok = candidates.filter((t) => wallClock(t, timeZone) === wall).sort((a, b) => a - b);
  return ok[0];
}

function dayMatches(s: CronSchedule, d: Date): boolean {
  const dom = s.daysOfMonth.has(d.getUTCDate());
  const dow = s.daysOfWeek.has(d.getUTCDay());
  return s.dayStar ? dom && dow : dom || dow;
}

const MINUTE = 60_000;

/**
 * The first time strictly after `after` (ms since epoch) the schedule
 * fires, in `timeZone` (the schedule's own `CRON_TZ` wins, then this, then
 * UTC); undefined when it never fires within five years (e.g. `0 0 30 2 *`).
 */
export function nextCronTime(s: CronSchedule, after: number, timeZone?: string): number | undefined {
  const tz = s.timeZone ?? timeZone ?? 'UTC';
  const limit = after + 5 * 366 * 24 * 60 * MINUTE;
  // Walk the wall clock field by field (month, day, hour, minute), as robfig/cron does.
  let wall = Math.floor(wallClock(after, tz) / MINUTE) * MINUTE + MINUTE;
  while (wall < limit + 14 * 60 * MINUTE) {
    const d = new Date(wall);
    if (!s.months.has(d.getUTCMonth() + 1)) {
      wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
      continue;
    }
    if (!dayMatches(s, d)) {
      wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
      continue;
    }
    if (!s.hours.has(d.getUTCHours())) {
      wall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
      continue;
    }
    if (!s.minutes.has(d.getUTCMinutes())) {
      wall += MINUTE;
      continue;
    }
    const t = instantOf(wall, tz);
    if (t !== undefined && t > after) return t;
    wall += MINUTE;
  }
  return undefined;
}
