/* native/ sources imported as text (`with { type: "text" }`): their contents, for a bundle to carry. */
declare module "*.c" {
  const text: string;
  export default text;
}
declare module "*.h" {
  const text: string;
  export default text;
}
