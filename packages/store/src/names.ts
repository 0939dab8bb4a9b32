/** Now (or `date`) as RFC 3339 with whole seconds (`2024-05-01T12:00:00Z`), the format of Kubernetes timestamps. */
export function rfc3339(date?: Date): string {
  if (date) return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
  // Every create stamps now: formatted once per second, not once per write.
  const second = Math.floor(Date.now() / 1000);
  if (second !== nowSecond) {
    nowSecond = second;
    nowText = new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  return nowText;
}

let nowSecond = Number.NaN;
let nowText = '';
