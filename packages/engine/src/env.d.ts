// Ambient module types: WGSL sources are imported as text with Vite's `?raw` suffix (Node: see src/node/register.mjs).
declare module "*.wgsl?raw" {
  const source: string;
  export default source;
}
