// Public surface of @pipemesh/mesh. Nothing deeper is importable from outside the package.
export * from "./errors.ts";
export * from "./ports.ts";
