// Lint: type-aware typescript-eslint rules plus the package boundary rules from docs/house-style.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/dist/**",
      "public/**",
      "tools/**",
      "test-artifacts/**",
      "**/*.mjs",
      "eslint.config.js",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node, ...globals.browser },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-non-null-assertion": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
    },
  },
  {
    files: ["**/test/**", "**/e2e/**", "**/bench/**"],
    rules: {
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
    },
  },
  {
    files: ["packages/engine/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            "@pipemesh/mesh",
            "ws",
            "@thaunknown/simple-peer",
            "simple-peer",
            "node-datachannel",
          ],
          patterns: ["@pipemesh/*/src/*"],
        },
      ],
      "no-restricted-globals": ["error", "RTCPeerConnection", "WebSocket", "RTCDataChannel"],
    },
  },
  {
    files: ["packages/mesh/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: ["@pipemesh/engine", "webgpu", "comlink"],
          patterns: ["*.wgsl*", "@pipemesh/*/src/*"],
        },
      ],
      "no-restricted-properties": [
        "error",
        { object: "navigator", property: "gpu", message: "The mesh knows nothing of WebGPU." },
      ],
    },
  },
  {
    files: ["packages/engine/src/**"],
    ignores: ["packages/engine/src/worker/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: [
            "@pipemesh/mesh",
            "ws",
            "@thaunknown/simple-peer",
            "simple-peer",
            "node-datachannel",
            "comlink",
          ],
          patterns: ["@pipemesh/*/src/*"],
        },
      ],
    },
  },
);
