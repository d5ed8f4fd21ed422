// Where the server's routes live: "" at the root, "/mlflow" under `mltrail server --static-prefix /mlflow`.
// This module is served at <root>/static/<version>/root.js, so everything before /static/ is the root.

export const ROOT = new URL(import.meta.url).pathname.replace(/\/static\/[^/]+\/root\.js$/, '');
