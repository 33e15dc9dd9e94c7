/** What the bytecode bundle of `bun-userns` exports (src/packed/bytecode.ts): the CLI, and where it runs. */
export { main } from "../cli.ts";
export { setBundleDir } from "../core/native-source.ts";
