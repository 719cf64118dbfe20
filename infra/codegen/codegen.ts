// Types for the front end from the committed SDL and the persisted operation documents.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../../graphql/schema.graphql",
  documents: ["../../graphql/operations/*.graphql"],
  generates: {
    "generated/graphql.ts": {
      plugins: ["typescript", "typescript-operations"],
      config: { scalars: { Date: "string", DateTime: "string", JSON: "unknown", RollupValues: "number[]" }, enumsAsTypes: true, strictScalars: true },
    },
  },
};
export default config;
