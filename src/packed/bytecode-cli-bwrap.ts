/** What the bytecode bundle of `bun-userns-bwrap` exports (src/packed/bytecode.ts): the CLI, and where it runs. */
export { runBwrap } from "../cli/bwrap.ts";
export { setBundleDir } from "../core/native-source.ts";
