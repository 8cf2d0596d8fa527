// Offline schema validation of Kubernetes manifests with the OpenAPI schemas
// that kubernetes-models (npm) ships: every document of every file given is
// looked up by apiVersion and kind and validated. Prints one line per
// document and "N passed, N failed"; exits 1 on any failure.
//   node validate.mjs FILE.yaml...
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

let passed = 0, failed = 0;
const report = (ok, what) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
  ok ? passed++ : failed++;
};

for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) {
      report(false, `${file}: YAML: ${doc.errors[0].message}`);
      continue;
    }
    const obj = doc.toJS();
    if (!obj) continue;
    const what = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
    const module = `kubernetes-models/${group ? group + "/" : ""}${version}/${obj.kind}`;
    let Model;
    try {
      Model = (await import(module))[obj.kind];
    } catch (e) {
      report(false, `${what}: no schema for ${obj.apiVersion} ${obj.kind} (${module})`);
      continue;
    }
    try {
      new Model(obj).validate();
      report(true, `${what} matches the ${obj.apiVersion} ${obj.kind} schema`);
    } catch (e) {
      report(false, `${what}: ${e.message}`);
    }
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
