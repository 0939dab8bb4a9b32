import { describe, expect, it } from 'vitest';
import { isValidTimeZone, nextCronTime, parseCronSchedule } from './cron.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const next = (spec: string, from: string, tz?: string) => iso(nextCronTime(parseCronSchedule(spec), at(from), tz));

describe('parseCronSchedule', () => {
  it('reads ranges, lists, steps and names', () => {
    const s = parseCronSchedule('*/15 9-17 1,15 jan-MAR mon-fri');
    expect([...s.minutes]).toEqual([0, 15, 30, 45]);
    expect([...s.hours]).toEqual([9, 10, 11, 12, 13, 14, 15, 16, 17]);
    expect([...s.daysOfMonth]).toEqual([1, 15]);
    expect([...s.months]).toEqual([1, 2, 3]);
    expect([...s.daysOfWeek]).toEqual([1, 2, 3, 4, 5]);
    expect(s.dayStar).toBe(false);
    expect([...parseCronSchedule('5/20 * * * *').minutes]).toEqual([5, 25, 45]);
    expect([...parseCronSchedule('0 0 * * 1-5/2').daysOfWeek]).toEqual([1, 3, 5]);
  });

  it('expands the macros', () => {
    expect(next('@hourly', '2024-01-01T10:20:00Z')).toBe('2024-01-01T11:00:00.000Z');
    expect(next('@daily', '2024-01-01T10:20:00Z')).toBe('2024-01-02T00:00:00.000Z');
    expect(next('@weekly', '2024-01-01T10:20:00Z')).toBe('2024-01-07T00:00:00.000Z');
    expect(next('@monthly', '2024-01-31T10:20:00Z')).toBe('2024-02-01T00:00:00.000Z');
    expect(next('@yearly', '2024-06-01T00:00:00Z')).toBe('2025-01-01T00:00:00.000Z');
  });

  it('refuses bad schedules with robfig/cron messages', () => {
    expect(() => parseCronSchedule('61 * * * *')).toThrow('end of range (61) above maximum (59): 61');
    expect(() => parseCronSchedule('* * *')).toThrow('expected exactly 5 fields, found 3: [* * *]');
    expect(() => parseCronSchedule('* * 0 * *')).toThrow('beginning of range (0) below minimum (1): 0');
    expect(() => parseCronSchedule('5-1 * * * *')).toThrow('beginning of range (5) beyond end of range (1): 5-1');
    expect(() => parseCronSchedule('*/0 * * * *')).toThrow('step of range should be a positive number: */0');
    expect(() => parseCronSchedule('x * * * *')).toThrow('failed to parse int from x');
    expect(() => parseCronSchedule('@often')).toThrow('unrecognized descriptor: @often');
    expect(() => parseCronSchedule('')).toThrow('empty spec string');
    expect(() => parseCronSchedule('* * * * 7')).toThrow('end of range (7) above maximum (6): 7');
  });
});

describe('nextCronTime', () => {
  it('is strictly after the given time', () => {
    expect(next('*/1 * * * *', '2024-01-01T10:00:00Z')).toBe('2024-01-01T10:01:00.000Z');
    expect(next('*/1 * * * *', '2024-01-01T10:00:30Z')).toBe('2024-01-01T10:01:00.000Z');
    expect(next('30 2 * * *', '2024-01-01T02:30:00Z')).toBe('2024-01-02T02:30:00.000Z');
  });

  it('ORs day-of-month and day-of-week when both are restricted, ANDs when one is *', () => {
    // 2024-01-01 is a Monday. "1st of the month or a Friday":
    expect(next('0 0 1 * 5', '2024-01-01T12:00:00Z')).toBe('2024-01-05T00:00:00.000Z');
    // "every day of the month, Fridays only":
    expect(next('0 0 * * 5', '2024-01-06T00:00:00Z')).toBe('2024-01-12T00:00:00.000Z');
  });

  it('never fires for an impossible date', () => {
    expect(next('0 0 30 2 *', '2024-01-01T00:00:00Z')).toBeUndefined();
  });

  it('follows the wall clock of a time zone across daylight saving', () => {
    // 09:00 in Berlin: 08:00Z in winter, 07:00Z in summer.
    expect(next('0 9 * * *', '2024-01-10T12:00:00Z', 'Europe/Berlin')).toBe('2024-01-11T08:00:00.000Z');
    expect(next('0 9 * * *', '2024-07-10T12:00:00Z', 'Europe/Berlin')).toBe('2024-07-11T07:00:00.000Z');
    // 02:30 does not exist in Berlin on 2024-03-31: that day is skipped.
    expect(next('30 2 * * *', '2024-03-30T12:00:00Z', 'Europe/Berlin')).toBe('2024-04-01T00:30:00.000Z');
    // A CRON_TZ prefix wins over the argument.
    expect(iso(nextCronTime(parseCronSchedule('CRON_TZ=America/New_York 0 9 * * *'), at('2024-01-10T00:00:00Z'), 'UTC'))).toBe('2024-01-10T14:00:00.000Z');
  });

  it('knows valid time zones', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
    expect(isValidTimeZone('Local')).toBe(false);
    expect(isValidTimeZone('')).toBe(false);
  });
});
