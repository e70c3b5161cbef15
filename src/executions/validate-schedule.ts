// Checks a `schedule:` from slipway.yml: a standard 5-field cron expression (minute, hour,
// day of month, month, day of week), read in UTC, so a function runs at most once a
// minute. cron-parser does the parsing; this only adds the 5-field rule and the wording.
import { CronExpressionParser } from "cron-parser";

export function validateSchedule(expression: string): string | null {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) {
    return `'${expression}' has ${fields.length} field${fields.length === 1 ? "" : "s"}; use 5 (minute hour day-of-month month day-of-week, UTC), e.g. '*/5 * * * *'`;
  }
  try {
    CronExpressionParser.parse(fields.join(" "), { tz: "UTC" });
    return null;
  } catch (error) {
    return `'${expression}' is not a valid cron expression: ${(error as Error).message}`;
  }
}

/** The next tick after `from`, for showing users when a schedule runs. */
export function nextScheduledRun(expression: string, from = new Date()): Date {
  return CronExpressionParser.parse(expression, { tz: "UTC", currentDate: from }).next().toDate();
}
