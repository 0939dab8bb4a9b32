/**
 * Pieces of HTTP/1.1 message syntax (RFC 9112) shared by the lean server
 * front and the upstream client, which both read heads as latin1 text.
 */

/**
 * The value of the header field whose line has its colon at `colon` and
 * ends (before CRLF) at `end`: the text between them without the optional
 * whitespace (spaces and tabs) on either side.
 */
export function fieldValueOf(text: string, colon: number, end: number): string {
  let vs = colon + 1;
  while (vs < end && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
  let ve = end;
  while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
  return text.slice(vs, ve);
}
