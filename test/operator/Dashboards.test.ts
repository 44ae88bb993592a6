import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { KubeClient } from "../../src/kube/KubeClient.ts"
import * as Resources from "../../src/kube/Resources.ts"
import * as Operations from "../../src/operator/Operations.ts"
import { operator } from "../controllers/metrics/support.ts"
import * as S from "../controllers/support.ts"

const directory = join(import.meta.dirname, "../../manifests/dashboards")

/** Every PromQL expression of a Grafana dashboard: its panels' targets and its template variables' queries. */
const expressions = (dashboard: {
  readonly panels?: ReadonlyArray<{ readonly targets?: ReadonlyArray<{ readonly expr?: string }> }>
  readonly templating?: { readonly list?: ReadonlyArray<{ readonly query?: string | { readonly query?: string } }> }
}): Array<string> => [
  ...(dashboard.panels ?? []).flatMap((panel) => (panel.targets ?? []).flatMap((target) => target.expr ?? [])),
  ...(dashboard.templating?.list ?? []).flatMap((variable) =>
    typeof variable.query === "object" ? (variable.query.query ?? []) : []
  )
]

const keywords = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless"
])

/**
 * The metric names a PromQL expression (or a Grafana `label_values(metric, label)`) selects: its identifiers once
 * strings, label matchers, ranges, Grafana variables, numbers and grouping label lists are removed, that are neither
 * keywords nor function calls.
 */
const metricNames = (expression: string): Array<string> => {
  const stripped = expression
    .replace(/label_values\(\s*([a-zA-Z_:][\w:]*)\s*,[^)]*\)/g, " $1 ")
    .replace(/"(?:[^"\\]|\\.)*"/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\boffset\s+-?\w+/g, " ")
    .replace(/\$\{?\w+\}?/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\b\d+(\.\d+)?([eE][-+]?\d+)?\b/g, " ")
  const names = new Set<string>()
  for (const match of stripped.matchAll(/([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name = "", call] = match
    if (call === undefined && !keywords.has(name)) names.add(name)
  }
  return [...names]
}

/** The metric families `/metrics` declares (`# TYPE name type`), by name. */
const families = (text: string): Map<string, string> =>
  new Map(
    text
      .split("\n")
      .filter((line) => line.startsWith("# TYPE "))
      .map((line) => {
        const [, , name = "", type = ""] = line.split(" ")
        return [name, type]
      })
  )

/** Whether a name a query selects is exported: a family, or a histogram's or summary's `_bucket`/`_sum`/`_count`. */
const exported = (name: string, declared: ReadonlyMap<string, string>): boolean => {
  if (declared.has(name)) return true
  const series = /^(.*)_(bucket|sum|count)$/.exec(name)
  const type = series === null ? undefined : declared.get(series[1] ?? "")
  return type === "histogram" || (type === "summary" && series?.[2] !== "bucket")
}

describe("Dashboards", S.controllerSuite, () => {
  it("extracts the metric names of PromQL expressions", () => {
    assert.deepStrictEqual(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{x="y(z)"}[$__rate_interval]))) / on (nodepool) b_total offset 5m'
      ),
      ["a_seconds_bucket", "b_total"]
    )
    assert.deepStrictEqual(metricNames("label_values(karpenter_nodepools_usage, nodepool)"), [
      "karpenter_nodepools_usage"
    ])
    assert.deepStrictEqual(metricNames("sum(avg_over_time(c[$__range])) * $__range_s / 3600"), ["c"])
  })

  it.effect("every metric the dashboards query is in /metrics after a provisioning and consolidation run", () =>
    Effect.gen(function* () {
      const kube = yield* KubeClient
      yield* S.createKwokNodeClass(S.kwokNodeClass("default"))
      const pool = S.nodePool("default", { nodeClassRef: S.kwokNodeClassRef, limits: { cpu: "100" } })
      const disruption = { consolidateAfter: "0s", consolidationPolicy: "WhenEmptyOrUnderutilized" }
      yield* S.createNodePool({ ...pool, spec: { ...pool.spec, disruption } } as never)
      // Two nodes, one emptied and consolidated away; one pod no NodePool can take stays pending.
      yield* S.createPod(S.pod("a"))
      yield* S.advance(60_000, 1_000)
      yield* S.createPod(S.pod("b", { cpu: "3" }))
      yield* S.createPod(S.pod("pending", { spec: { nodeSelector: { "example.com/nowhere": "true" } } }))
      yield* S.advance(60_000, 1_000)
      assert.strictEqual((yield* S.listNodes).length, 2)
      yield* kube.delete(Resources.Pods, "b", { namespace: "default", gracePeriodSeconds: 0 })
      yield* S.advance(120_000, 1_000)
      assert.strictEqual((yield* S.listNodes).length, 1)

      const declared = families(yield* Operations.scrape)
      const files = readdirSync(directory)
        .filter((file) => file.endsWith(".json"))
        .sort()
      assert.deepStrictEqual(files, ["capacity.json", "cost.json", "performance.json"])
      for (const file of files) {
        const dashboard = JSON.parse(readFileSync(join(directory, file), "utf8"))
        const queries = expressions(dashboard)
        assert.isAbove(queries.length, 0, file)
        for (const query of queries) {
          const names = metricNames(query)
          assert.isAbove(names.length, 0, `${file}: ${query}`)
          for (const name of names) assert.isTrue(exported(name, declared), `${file}: ${name} is not in /metrics`)
        }
      }
    }).pipe(Effect.provide(operator), Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})
