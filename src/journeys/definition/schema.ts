/**
 * The zod schema of one journey document (one YAML document of a journey file). It is the single source of truth
 * for what a journey file may contain: the loader validates with it (load.ts maps its issues to `file:line:col`),
 * `schemas/journey.schema.json` is generated from it (json-schema.ts; every `.describe()` becomes the hover text
 * in editors), and the compiler (compile.ts) reads its output. The format is documented in ../README.md.
 *
 * Objects are strict (an unknown key is an error with a "did you mean"). Values are checked here as far as one
 * value can be: names, durations, percentages, regexes (regex-safety.ts). Checks that relate several values
 * (duplicate names, selectors that can never match, conditions that can never hold) are in load.ts and
 * unreachable.ts.
 */
import { z } from 'zod';
import { duration } from '../../config/types.js';
import { didYouMean } from '../../config/did-you-mean.js';
import { checkRegex } from './regex-safety.js';

export const API_VERSION = 'pulse/v1';
export const KIND = 'Journey';

export const JOURNEY_NAME_RE = /^[a-z0-9][a-z0-9-]*$/;
export const STEP_NAME_RE = /^[a-z0-9_-]+$/;
export const SEGMENT_NAME_RE = /^[A-Za-z0-9_.-]+$/;
/** What `parseDuration` (config/types.ts) accepts, for editors. */
const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?(ns|us|µs|ms|s|m|h|d)\\s*$';

/** OTLP span kinds by the names a journey file uses (case-insensitive, `SPAN_KIND_` prefix allowed). */
export const SPAN_KINDS = ['server', 'client', 'internal', 'producer', 'consumer'] as const;
export type SpanKindName = (typeof SPAN_KINDS)[number];

export const CONDITION_OPERATORS = ['eq', 'in', 'not', 'exists', 'regex', 'glob', 'lt', 'lte', 'gt', 'gte'] as const;

export type ScalarValue = string | number | boolean;

/** A condition's operators, as parsed. Several operators in one map must all hold. */
export interface ConditionOps {
  eq?: ScalarValue | undefined;
  in?: ScalarValue[] | undefined;
  not?: ConditionSpec | undefined;
  exists?: boolean | undefined;
  regex?: string | undefined;
  glob?: string | undefined;
  lt?: number | undefined;
  lte?: number | undefined;
  gt?: number | undefined;
  gte?: number | undefined;
}

/** A scalar is shorthand for `{ eq: scalar }`. */
export type ConditionSpec = ScalarValue | ConditionOps;

const scalar = z
  .union([z.string(), z.number(), z.boolean()])
  .describe('A value: text, a number or true/false. A number also matches int, double and numeric-text attribute values');

/** A regular expression, checked for validity and for catastrophic backtracking at load time. */
function regexText(what: string) {
  return z
    .string()
    .describe(`${what}: a JavaScript regular expression (Unicode mode), searched anywhere in the text unless anchored with ^ and $. Backreferences, lookarounds and nested repetitions like (a+)+ are rejected`)
    .superRefine((source, ctx) => {
      const checked = checkRegex(source);
      if (!checked.ok) ctx.addIssue({ code: 'custom', message: checked.message });
    });
}

const conditionOps: z.ZodType<ConditionOps> = z.lazy(() =>
  z
    .strictObject({
      eq: scalar.optional().describe('Equal to this value (the same as writing the value alone)'),
      in: z.array(scalar).optional().describe('Equal to one of these values'),
      not: condition.optional().describe('Holds when this condition does not (also when the attribute is absent)'),
      exists: z.boolean().optional().describe('true: the attribute is present (with any value); false: it is absent'),
      regex: regexText('Text matching this pattern').optional(),
      glob: z.string().optional().describe('Text matching this glob: * is any run of characters, ? one character'),
      lt: z.number().optional().describe('A number (int, double or numeric text) below this'),
      lte: z.number().optional().describe('A number (int, double or numeric text) at most this'),
      gt: z.number().optional().describe('A number (int, double or numeric text) above this'),
      gte: z.number().optional().describe('A number (int, double or numeric text) at least this'),
    })
    .refine((ops) => Object.values(ops).some((v) => v !== undefined), {
      message: `a condition needs at least one operator: ${CONDITION_OPERATORS.join(', ')}`,
      // Not when the map has other problems (an unknown key like `regx` is not "no operator").
      when: (payload) => payload.issues.length === 0,
    })
    .meta({ minProperties: 1 }),
);

const condition: z.ZodType<ConditionSpec> = z
  .lazy(() => z.union([scalar, conditionOps]))
  .describe('A value (equality), or a map of operators that must all hold: eq, in, not, exists, regex, glob, lt, lte, gt, gte')
  // Names the recursive definition in the JSON Schema (instead of zod's generated __schema0).
  .meta({ id: 'condition' });

const where = (on: string) =>
  z
    .record(z.string().min(1), condition)
    .describe(`Attribute conditions, all of which must hold; attributes are looked up on ${on}`);

/** `frontend`, `[frontend, web]`, `POST /api/*`, or `{ regex: … }`. */
function namePattern(what: string) {
  return z
    .union([
      z.string().min(1),
      z.array(z.string().min(1)).min(1),
      z.strictObject({ regex: regexText(`The ${what} matches`) }).describe(`The ${what} matches a regular expression`),
    ])
    .describe(
      `The ${what}: exact text, a glob (* any run of characters, ? one; \\* for a literal *), a list of those, or { regex: "…" }`,
    );
}

/**
 * What the span kind transform below accepts, as a JSON Schema pattern: any case, `SPAN_KIND_` prefix allowed.
 * Each letter is a class of its cases (JSON Schema patterns have no flags); `k` also takes the Kelvin sign, which
 * `toLowerCase()` turns into `k`.
 */
const SPAN_KIND_PATTERN = (() => {
  const anyCase = (word: string) =>
    [...word].map((c) => (c === 'k' ? '[kK\\u212A]' : /[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : c)).join('');
  return `^(${anyCase('span_kind_')})?(${SPAN_KINDS.map(anyCase).join('|')})$`;
})();

/** The spellings editors suggest: as Pulse writes them, capitalised, upper case, and the OTLP enum names. */
const SPAN_KIND_SPELLINGS = [
  ...SPAN_KINDS,
  ...SPAN_KINDS.map((k) => k[0]!.toUpperCase() + k.slice(1)),
  ...SPAN_KINDS.map((k) => k.toUpperCase()),
  ...SPAN_KINDS.map((k) => `SPAN_KIND_${k.toUpperCase()}`),
];

const spanKind = z
  .string()
  .describe('Span kind: server, client, internal, producer or consumer (any case; the OTLP names SPAN_KIND_SERVER … work too)')
  .meta({ type: undefined, anyOf: [{ type: 'string', enum: SPAN_KIND_SPELLINGS }, { type: 'string', pattern: SPAN_KIND_PATTERN }] })
  .transform((text, ctx): SpanKindName => {
    const k = text.toLowerCase().replace(/^span_kind_/, '');
    if ((SPAN_KINDS as readonly string[]).includes(k)) return k as SpanKindName;
    ctx.addIssue({ code: 'custom', message: `must be one of ${SPAN_KINDS.join(', ')}, got "${text}"${didYouMean(k, SPAN_KINDS)}` });
    return z.NEVER;
  });

function selectorFields(role: string) {
  return {
    service: namePattern('service (resource attribute service.name)').optional(),
    span: namePattern('span name'),
    kind: spanKind.optional(),
    where: where(`the ${role} span, then its resource`).optional(),
  };
}

export const startSchema = z.strictObject(selectorFields('start')).describe('The span that begins one attempt of the journey');

export const stepSchema = z
  .strictObject({
    name: z
      .string()
      .max(64)
      .regex(STEP_NAME_RE, { message: 'must use lowercase letters, digits, "_" and "-", like "charge" or "send_email"' })
      .describe('The step\'s name, unique within the journey: the value of the journey.step tag and of failure reasons like missing_step:<name>'),
    ...selectorFields('step'),
    required: z
      .boolean()
      .default(false)
      .describe('When true, an attempt decided without this step fails with reason missing_step:<name>'),
    max_calls: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('More calls than this in one attempt add the signal duplicate_calls:<name> (a call firing 8 times instead of once)'),
  })
  .describe('A span of the same trace that belongs to the attempt: any span of the trace that matches, whether or not it descends from the start span');

function positiveDuration(description: string) {
  return duration()
    .refine((ms) => ms > 0, { message: 'must be longer than 0' })
    .describe(`${description}: a number and a unit (ms, s, m, h, d), for example 2s`)
    .meta({ anyOf: undefined, type: 'string', pattern: DURATION_PATTERN });
}

export const successSchema = z
  .strictObject({
    no_errors: z
      .enum(['journey', 'start', 'off'])
      .default('journey')
      .describe('journey: no span of the attempt (start or steps) may have status ERROR (reason error:<step>); start: the start span only; off: not checked'),
    where: where('the start span, then its resource (each broken condition is a failure reason where:<condition>)').optional(),
    max_duration: positiveDuration('Longest acceptable start span duration; longer is the failure reason "slow"').optional(),
  })
  .describe('Rules an attempt must pass to count as a success; every broken rule is a failure reason');

/**
 * What the percentage transform below accepts as text, as a JSON Schema pattern: a decimal number strictly
 * between 0 and 100 followed by `%` (leading zeros and blanks allowed): a non-zero whole part below 100, or a zero
 * one with a non-zero fraction.
 */
const PERCENT_PATTERN = '^\\s*(0*[1-9]\\d?(\\.\\d+)?|0+\\.\\d*[1-9]\\d*)\\s*%\\s*$';

/** `99.5%` or `0.995` → 0.995; must lie strictly between 0 and 1. */
function percentage() {
  return z
    .union([z.number(), z.string()])
    .describe('Share of attempts that must succeed: a percentage like 99.5% or a fraction like 0.995, above 0 and below 100%')
    .meta({
      type: undefined,
      anyOf: [
        { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
        { type: 'string', pattern: PERCENT_PATTERN },
      ],
    })
    .transform((v, ctx) => {
      let fraction: number;
      if (typeof v === 'number') {
        if (v > 1 && v < 100) {
          ctx.addIssue({ code: 'custom', message: `${v} is read as a fraction and is above 1: write ${v}% (or ${Number(`${v}e-2`)})` });
          return z.NEVER;
        }
        fraction = v;
      } else {
        const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
        if (!m) {
          const quotedNumber = /^\s*\d*\.?\d+\s*$/.test(v);
          ctx.addIssue({
            code: 'custom',
            message: quotedNumber
              ? `"${v}" is text (it is quoted): write ${v.trim()} without quotes, or a percentage like 99.5%`
              : `"${v}" is not a percentage: write it like 99.5% or 0.995`,
          });
          return z.NEVER;
        }
        // Through the decimal text, so 99.9% is exactly 0.999 (99.9 / 100 is 0.9990000000000001).
        fraction = Number(`${m[1]}e-2`);
      }
      if (fraction > 1) {
        ctx.addIssue({ code: 'custom', message: `${typeof v === 'string' ? v.trim() : v} is above 100%: a target is the share of attempts that must succeed, like 99.9%` });
        return z.NEVER;
      }
      if (fraction === 1) {
        ctx.addIssue({
          code: 'custom',
          message: `${typeof v === 'string' ? v.trim() : v} leaves no error budget: with a 100% objective every single failed attempt breaks it; use a target below 100%, like 99.9%`,
        });
        return z.NEVER;
      }
      if (!(fraction > 0)) {
        ctx.addIssue({ code: 'custom', message: 'must be above 0%, like 99.5%' });
        return z.NEVER;
      }
      return fraction;
    });
}

export const DEFAULT_TARGET = '99%';
export const DEFAULT_WINDOW = '28d';

export const objectiveSchema = z
  .strictObject({
    target: percentage().prefault(DEFAULT_TARGET),
    window: positiveDuration('The SLO period over which the target applies').prefault(DEFAULT_WINDOW),
  })
  .describe(`The service level objective: target (default ${DEFAULT_TARGET}) over window (default ${DEFAULT_WINDOW})`);

export const segmentSchema = z
  .union([
    z.string().min(1).describe('An attribute name; the dimension has the same name'),
    z
      .strictObject({
        name: z
          .string()
          .regex(SEGMENT_NAME_RE, { message: 'must use letters, digits, "_", "." and "-"' })
          .optional()
          .describe('The dimension\'s name in SLI rows (default: the attribute name)'),
        attribute: z.string().min(1).describe('The attribute whose value is the segment'),
      })
      .describe('A dimension with its own name, e.g. { name: release, attribute: service.version }'),
  ])
  .describe('A segment dimension: looked up on the start span, then its resource, then the attempt\'s other spans');

// ---- alert rules (compiled by src/alerts/rules.ts; evaluated by the slo connector, see its README) ----------

export const ALERT_SEVERITIES = ['page', 'ticket'] as const;

export const burnRatePairSchema = z
  .strictObject({
    severity: z.enum(ALERT_SEVERITIES).describe('page: wake someone up; ticket: handle in working hours'),
    long: positiveDuration('The long window: the error rate over it shows the incident is significant'),
    short: positiveDuration('The short window, shorter than long: the error rate over it shows the incident is still going on (and resets the alert quickly)'),
    factor: z
      .number()
      .positive()
      .describe('Fire when the error rate over BOTH windows is above factor × (1 − target): e.g. 14.4 spends 2% of a 30-day budget in 1 hour'),
  })
  .superRefine((pair, ctx) => {
    if (pair.short >= pair.long) {
      ctx.addIssue({ code: 'custom', path: ['short'], message: `the short window (${pair.short}ms) must be shorter than the long window (${pair.long}ms)` });
    }
  })
  .describe('One multi-window burn-rate rule');

const confidenceSchema = z
  .number()
  .gt(0.5)
  .lt(1)
  .default(0.99)
  .describe('Confidence of the significance tests (one-sided), above 0.5 and below 1; default 0.99');

export const alertSegmentsSchema = z
  .union([
    z.literal(false).describe('No segment alerts'),
    z
      .strictObject({
        min_attempts: z
          .number()
          .int()
          .min(1)
          .default(20)
          .describe('A segment value needs this many attempts in the short window before it may alert (default 20)'),
        confidence: confidenceSchema.describe(
          '1 − the false segment alerts a journey may raise per day, and 1 − the chance a healthy release is flagged; above 0.5 and below 1, default 0.99',
        ),
      })
      .describe('Segment alerts: a segment value burns its budget AND is significantly worse than the rest of the journey'),
  ])
  .describe('Alerts per segment value (customer.tier=enterprise), or false');

export const heartbeatSchema = z
  .union([
    z.literal(false).describe('No heartbeat alerts'),
    z
      .strictObject({
        min_successes: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe('Fire when fewer successes than this happen in one `per` interval (a fixed floor; leave out for baseline: auto)'),
        baseline: z
          .literal('auto')
          .optional()
          .describe('auto: fire when successes fall far under the journey\'s own recent rate (the default when min_successes is not set)'),
        per: positiveDuration(
          'The interval successes are counted over (default 1m); baseline: the shortest, lengthened for a quiet journey until a drop to `ratio` would be significant',
        ).prefault('1m'),
        min_history: positiveDuration('baseline: history needed before a baseline alert may fire (default 30m)').prefault('30m'),
        baseline_window: positiveDuration('baseline: how far back the recent rate is averaged (default 1h)').prefault('1h'),
        ratio: z
          .number()
          .gt(0)
          .lt(1)
          .default(0.25)
          .describe('baseline: fire when successes in an interval are under this share of the baseline (and significantly so); default 0.25'),
        confidence: confidenceSchema.describe(
          'baseline: 1 − the false pages a day healthy traffic may raise (0.99: one in ~100 days); above 0.5 and below 1, default 0.99',
        ),
      })
      .superRefine((hb, ctx) => {
        if (hb.min_successes !== undefined && hb.baseline !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['baseline'], message: 'choose one: min_successes (a fixed floor) or baseline: auto' });
        }
      })
      .describe('Heartbeat: a money moment that stops happening is an outage, even without a single error'),
  ])
  .describe('Heartbeat alerts: { min_successes: 10, per: 1m }, { baseline: auto }, or false');

export const releaseRulesSchema = z
  .union([
    z.literal(false).describe('No release regression alerts'),
    z
      .strictObject({
        new_for: positiveDuration('How long after it is first seen a service version counts as new (default: the longest page long window)').optional(),
      })
      .describe('Release regressions: a new service version that fails significantly more than the previous one'),
  ])
  .describe('Release regression alerts, or false');

export const alertsSchema = z
  .strictObject({
    burn_rates: z
      .array(burnRatePairSchema)
      .min(1)
      .optional()
      .describe(
        "Multi-window multi-burn-rate rules. Default: the SRE Workbook's (page 1h/5m ×14.4 and 6h/30m ×6, ticket 1d/2h ×3 and 3d/6h ×1), their windows scaled by objective.window / 30d",
      ),
    min_failures: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe(
        'Failed attempts a burn-rate, segment or release rule needs in its short window before it may fire (default 3): one failure is noise, not an incident',
      ),
    segments: alertSegmentsSchema.prefault({}),
    heartbeat: heartbeatSchema.prefault({}),
    release: releaseRulesSchema.prefault({}),
    repeat_interval: positiveDuration('Re-send a firing alert this often (default 5m)').prefault('5m'),
    keep_firing_for: duration()
      .describe(
        'Once its condition stops holding, keep a firing alert open this long before it resolves (as Prometheus keep_firing_for), ' +
          'so that a dip in a noisy window does not resolve an incident and open it again; default 0: it resolves after two evaluations without its condition',
      )
      .prefault(0),
  })
  .describe('Alert rules; without this section the defaults apply (see the slo connector README)');

export type AlertsSpec = z.output<typeof alertsSchema>;

export const specSchema = z
  .strictObject({
    start: startSchema,
    steps: z.array(stepSchema).default([]).describe('Spans of the same trace that belong to the attempt (optional)'),
    success: successSchema.prefault({}),
    segments: z.array(segmentSchema).default([]).describe('Dimensions the SLIs are cut by, each separately'),
    objective: objectiveSchema.prefault({}),
    alerts: alertsSchema.prefault({}),
  })
  .describe('What an attempt of the journey is, and when it succeeds');

export const metadataSchema = z
  .strictObject({
    name: z
      .string()
      .max(63)
      .regex(JOURNEY_NAME_RE, { message: 'must use lowercase letters, digits and "-" (starting with a letter or digit), like "checkout"' })
      .describe('The journey\'s name, unique across all journey files: lowercase letters, digits and -'),
    description: z.string().default('').describe('What the user does, in one sentence'),
    owner: z.string().default('').describe('The team that owns the journey'),
    runbook: z.string().default('').describe('Where to look when it breaks (a URL)'),
  })
  .describe('Name and ownership');

export const journeyDocumentSchema = z
  .strictObject({
    apiVersion: z.literal(API_VERSION).describe(`Always ${API_VERSION}`),
    kind: z.literal(KIND).describe(`Always ${KIND}`),
    metadata: metadataSchema,
    spec: specSchema,
  })
  .describe('A Pulse journey: a money moment of the product (checkout, sign-up), recognised in the span stream');

/** A validated journey document, with defaults applied (durations in ms, target as a fraction, kind lowercase). */
export type JourneyDocument = z.output<typeof journeyDocumentSchema>;
export type StepSpec = z.output<typeof stepSchema>;
export type SelectorSpec = z.output<typeof startSchema>;
export type SegmentSpec = z.output<typeof segmentSchema>;
