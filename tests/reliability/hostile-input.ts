// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the corpus holds ${…} text on purpose, as a hostile user would send it.
/** Hostile values for the fuzzers of the reliability suite (fast-check arbitraries). */
import fc from "fast-check";

/** Whether the suite runs at full size (`KILN_RELIABILITY_FULL=1` or `npm run test:reliability -- --full`). */
export const FULL = Boolean(process.env.KILN_RELIABILITY_FULL);

/** Strings that have broken parsers, routers and stores elsewhere. */
export const NASTY_STRINGS: readonly string[] = [
  "",
  " ",
  "../../../../etc/passwd",
  "..%2F..%2Fetc%2Fpasswd",
  "..\\..\\windows",
  "%00",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff\ud800",
  "\uffff\ufffe",
  "' OR 1=1 --",
  '"; DROP TABLE runs; --',
  "$(touch /tmp/kiln-pwned)",
  "`id`",
  "${INPUT_X}",
  "${{ secrets.X }}",
  "{{constructor.constructor('return process')()}}",
  "__proto__",
  "constructor",
  "prototype",
  "x".repeat(10_000),
  "é".repeat(5_000),
  "\u202e\u0301",
  "null",
  "-1",
  "1e309",
  "NaN",
  "Infinity",
  "0x7fffffff",
  "9".repeat(400),
  "kiln_",
  "kiln_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "*",
  "default",
  "/",
  "//",
  "?a=b#c",
  "\r\nX-Injected: 1",
];

/** Any string: nasty constants, short random text, full-range code points (lone surrogates included). */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...NASTY_STRINGS),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
);

/** Numbers at and beyond every bound a column or a timer has. */
export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(-1, 0, -0, 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, -(2 ** 53), 1e308, -1e308, 0.5, 5e-324),
  fc.integer(),
  fc.double({ noNaN: true }),
);

/** Any JSON value, nested a few levels, made of hostile leaves. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(hostileString, tie("value"), { maxKeys: 5 }),
  ),
})).value;

/** JSON text nested `depth` levels deep (`[[[…]]]` or `{"a":{"a":…}}`). */
export function deepJson(depth: number, kind: "array" | "object"): string {
  return kind === "array"
    ? `${"[".repeat(depth)}${"]".repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

/** Bytes that are not UTF-8 (a lone continuation byte, an overlong slash, a truncated sequence). */
export const INVALID_UTF8: readonly Uint8Array[] = [
  Uint8Array.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0x80, 0x22, 0x7d]), // {"n":"\x80"}
  Uint8Array.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]), // {"\xc0\xaf":1}
  Uint8Array.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xe2, 0x82, 0x22, 0x7d]), // truncated €
  Uint8Array.from([0xff, 0xfe, 0x00, 0x7b]),
];
