// Public surface of @pipemesh/engine. Nothing deeper is importable from outside the package.
export * from "./errors.ts";
export * from "./model/batch.ts";
