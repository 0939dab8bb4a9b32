/** Now as RFC 3339 with whole seconds (`2024-05-01T12:00:00Z`), the format of Kubernetes timestamps. */
export function rfc3339(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
