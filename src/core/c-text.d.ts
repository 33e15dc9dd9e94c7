/* native/ sources (and the CLI help) imported as text (`with { type: "text" }`): their contents, for a bundle to carry. */
declare module "*.c" {
  const text: string;
  export default text;
}
declare module "*.h" {
  const text: string;
  export default text;
}
/* The CLI's help (src/cli-help.txt), which the launcher prints too. */
declare module "*.txt" {
  const text: string;
  export default text;
}
