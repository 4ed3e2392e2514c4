import { KilnError } from "../errors.ts";

/** Checks every vector has `dimensions` finite numbers (the collection's length, or the first vector's). */
export function checkDimensions(
  collection: string,
  vectors: readonly (readonly number[])[],
  dimensions: number | undefined,
): number {
  const expected = dimensions ?? vectors[0]?.length ?? 0;
  for (const vector of vectors) {
    if (vector.length === 0 || vector.some((v) => typeof v !== "number" || !Number.isFinite(v))) {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected vectors of collection "${collection}" to be non-empty lists of numbers`,
      );
    }
    if (vector.length !== expected) {
      throw new KilnError(
        "VECTOR_DIMENSION_MISMATCH",
        `Collection "${collection}" holds vectors of ${expected} dimensions, got one of ${vector.length}; embed with the same model, or use another collection`,
        { data: { collection, expected, got: vector.length } },
      );
    }
  }
  return expected;
}
