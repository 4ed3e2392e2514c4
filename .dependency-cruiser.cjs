/**
 * The layer rule of src/, checked by `npm run lint:layers` (part of `npm run ci`).
 *
 * LAYERS lists the folders (and top-level files) of src/ from the bottom up. A module may import
 * its own layer and the layers below it, never one above. Every layer holds one folder (the
 * package entry files share the top), so a cycle between folders always contains an upward
 * import: forbidding upward imports forbids folder cycles. The two cycle rules below report such
 * a cycle as one (between folders, and between the modules that make it).
 *
 * Test code (*.test.ts, *.contract.ts, test helpers and harnesses) is left out of the graph, so
 * it is exempt from both rules: a test of a lower layer may drive it with the real worker loop or
 * server, which sit above it.
 *
 * ARCHITECTURE.md ("Layout and dependency direction") draws the same order.
 */

/** Bottom first. A name ending in ".ts" is a top-level file of src/, else a folder. */
const LAYERS = [
  ["errors.ts", "tracing"],
  ["engine"],
  ["config"],
  ["store"],
  ["workflow"],
  ["secrets"],
  ["exec"],
  ["runtimes"],
  ["flow"],
  ["worker"],
  ["remote"],
  ["server"],
  ["ui"],
  ["client"],
  ["cli"],
  ["testing"],
  ["kiln.ts"],
  ["index.ts", "workflow.ts", "flow.ts", "testing.ts", "client.ts"],
];

/** Test code: not part of the layers (see above). */
const TEST_CODE = "(\\.test\\.ts|\\.contract\\.ts|test-helpers\\.ts|test-harness\\.ts|-fixtures\\.ts)$";

/**
 * Known upward imports, one [from, to] pair of files each: a debt to pay, not a rule. The rest of
 * the importing file's imports keep the rule.
 */
const EXCEPTIONS = [];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const exactly = (file) => `^${escape(file)}$`;
const pathOf = (names) => `^src/(${names.map((n) => (n.endsWith(".ts") ? `${escape(n)}$` : `${escape(n)}/`)).join("|")})`;
/** The layer index of a file of src/. */
const layerOf = (file) => {
  const top = file.split("/")[1];
  return LAYERS.findIndex((layer) => layer.includes(top));
};
const above = (index) => LAYERS.slice(index + 1).flat();
const excepted = [...new Set(EXCEPTIONS.map(([from]) => from))];

const upwardRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.join("+")}`,
  severity: "error",
  comment: `${layer.join(", ")} may not import ${above(i).join(", ")} (upward in the layer order of .dependency-cruiser.cjs)`,
  from: { path: pathOf(layer), pathNot: excepted.map(exactly) },
  to: { path: pathOf(above(i)) },
}));

/** An excepted file may import upward only the files listed for it. */
const exceptionRules = excepted.map((from) => ({
  name: `layer-exception-${from.replace(/\W+/g, "-")}`,
  severity: "error",
  comment: `${from} may import upward only what EXCEPTIONS lists for it`,
  from: { path: exactly(from) },
  to: {
    path: pathOf(above(layerOf(from))),
    pathNot: EXCEPTIONS.filter(([f]) => f === from).map(([, to]) => exactly(to)),
  },
}));

/** A new folder (or top-level file) of src/ must be given its place in LAYERS first. */
const unlisted = `^src/(?!${LAYERS.flat()
  .map((n) => (n.endsWith(".ts") ? `${escape(n)}$` : `${escape(n)}/`))
  .join("|")})`;

module.exports = {
  forbidden: [
    ...upwardRules,
    ...exceptionRules,
    {
      name: "layer-unlisted",
      severity: "error",
      comment: "A folder or top-level file of src/ that LAYERS in .dependency-cruiser.cjs does not place",
      from: { path: "^src/" },
      to: { path: unlisted },
    },
    {
      name: "layer-unlisted-importer",
      severity: "error",
      comment: "A folder or top-level file of src/ that LAYERS in .dependency-cruiser.cjs does not place",
      from: { path: unlisted },
      to: { path: "^src/" },
    },
    {
      name: "no-module-cycle-between-folders",
      severity: "error",
      comment: "An import cycle of modules that passes through more than one folder of src/",
      from: { path: "^src/([^/]+)/" },
      to: { circular: true, via: { pathNot: "^src/$1/" } },
    },
    {
      name: "no-folder-cycle",
      severity: "error",
      comment: "Folders of src/ that import each other (directly or through other folders)",
      scope: "folder",
      from: { path: "^src/[^/]+$" },
      to: { circular: true, path: "^src/[^/]+$" },
    },
  ],
  options: {
    includeOnly: "^src/",
    tsPreCompilationDeps: true,
    exclude: { path: TEST_CODE },
  },
};
