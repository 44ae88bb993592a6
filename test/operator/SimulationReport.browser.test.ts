/**
 * `simulate`'s HTML report, opened in headless Chromium (Debian's `chromium`; .ci/run installs it): the demo's page
 * draws its charts from the run the JSON output describes, marks the JSON's disruptions, filters its events, logs no
 * error and makes no request; the same scenario gives the same bytes. The screenshot lands in test-artifacts/.
 */
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { chromium } from "playwright-core"
import type * as Simulation from "../../src/cluster/Simulation.ts"
import { sampleInterval } from "../../src/cluster/Simulation.ts"
import { root } from "../fixtures.ts"
import { simulateWith } from "../support/Cli.ts"

const demo = join(root, "examples", "demo.yaml")
const artifacts = join(root, "test-artifacts")

/** What the page shows, read from its uPlot instances, its tables and its console. */
interface Rendered {
  readonly charts: ReadonlyArray<{
    readonly id: string
    readonly labels: ReadonlyArray<string>
    readonly data: ReadonlyArray<ReadonlyArray<number | null>>
    readonly markers: ReadonlyArray<Simulation.Disruption>
  }>
  readonly disruptionRows: ReadonlyArray<ReadonlyArray<string>>
  readonly eventRows: number
  readonly filteredRows: number
}

/** Opens the page in headless Chromium with every request recorded and none but the page's own let through. */
const openInChromium = (file: string, filter: string) =>
  Effect.promise(async () => {
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium" })
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1320 } })
      const requests: Array<string> = []
      const errors: Array<string> = []
      page.on("request", (request) => void requests.push(request.url()))
      page.on("console", (message) => {
        if (message.type() === "error" || message.type() === "warning") errors.push(message.text())
      })
      page.on("pageerror", (error) => void errors.push(error.message))
      const url = pathToFileURL(file).href
      await page.route("**/*", (route) => (route.request().url() === url ? route.continue() : route.abort()))
      await page.goto(url)
      // Run in the page (this project's TypeScript has no DOM types): each chart's series, data and markers.
      const charts: Rendered["charts"] = await page.evaluate(`window.simulationReport.charts.map(({ id, plot }) => ({
        id,
        labels: plot.series.map((series) => series.label),
        data: plot.data.map((values) => [...values]),
        markers: plot.drawnMarkers
      }))`)
      const cells = await page.locator("#disruptions tbody td").allTextContents()
      const disruptionRows = Array.from({ length: cells.length / 4 }, (_, i) => cells.slice(4 * i, 4 * i + 4))
      const eventRows = await page.locator("#events tbody tr").count()
      // The top of the page: the summary and the six charts (docs/simulation-report.png is one of these).
      mkdirSync(artifacts, { recursive: true })
      await page.screenshot({ path: join(artifacts, "simulation-report.png") })
      await page.fill("#event-filter", filter)
      const filteredRows = await page.locator("#events tbody tr:not([hidden])").count()
      const rendered: Rendered = { charts, disruptionRows, eventRows, filteredRows }
      return { rendered, requests, errors, url }
    } finally {
      await browser.close()
    }
  })

describe("simulate's HTML report", () => {
  it.live(
    "the demo's report renders offline in Chromium: charts of the run, the JSON's disruptions, a working event filter",
    () =>
      Effect.gen(function* () {
        const file = join(mkdtempSync(join(tmpdir(), "simulation-report-")), "demo.html")
        const withReport = yield* simulateWith(["-f", demo, "-o", "json", "--report", file])
        assert.isTrue(Exit.isSuccess(withReport.exit), String(withReport.exit))
        const report: Simulation.Report = JSON.parse(withReport.printed.stdout.join("\n"))
        assert.deepStrictEqual(withReport.printed.stderr, [`simulate: report written to ${file}`])
        const html = readFileSync(file, "utf8")

        // Deterministic: the same scenario, printed this time, gives the same page.
        const printed = yield* simulateWith(["-f", demo, "-o", "html"])
        assert.isTrue(Exit.isSuccess(printed.exit), String(printed.exit))
        assert.strictEqual(`${printed.printed.stdout.join("\n")}\n`, html)
        // Self-contained: nothing loaded from elsewhere.
        assert.notMatch(html, /<(script|link|img|iframe)\b[^>]*\b(src|href)=/i)

        const node = report.disruptions[0]?.candidates[0] ?? "none"
        const { rendered, requests, errors, url } = yield* openInChromium(file, node)
        assert.deepStrictEqual(requests, [url], "the page itself and nothing else")
        assert.deepStrictEqual(errors, [])

        // The timeline: a point every interval from the start to the end (the last snapshot) and at every snapshot.
        const end = report.snapshots.at(-1)!.time
        const step = sampleInterval(end * 1000) / 1000
        const times = [
          ...new Set([
            ...Array.from({ length: end / step + 1 }, (_, i) => i * step),
            ...report.snapshots.map((s) => s.time)
          ])
        ].sort((a, b) => a - b)
        const distinct = (values: ReadonlyArray<string>) => [...new Set(values)].sort()
        const allNodes = report.snapshots.flatMap((snapshot) => snapshot.nodes)
        const expectedLabels: Record<string, ReadonlyArray<string>> = {
          "chart-instance-types": distinct(allNodes.map((node) => node.instanceType)),
          "chart-capacity-types": distinct(allNodes.map((node) => node.capacityType)),
          "chart-pods": ["bound", "pending"],
          "chart-cost": ["rate ($/h)", "cumulative ($)"],
          "chart-cpu": ["requested", "allocatable"],
          "chart-memory": ["requested", "allocatable"]
        }
        assert.deepStrictEqual(
          rendered.charts.map((chart) => chart.id),
          Object.keys(expectedLabels)
        )
        const chart = (id: string) => rendered.charts.find((candidate) => candidate.id === id)!
        for (const { id, labels, data, markers } of rendered.charts) {
          assert.deepStrictEqual(labels, ["time", ...expectedLabels[id]!], `${id}: one series per line`)
          assert.deepStrictEqual(data[0], times, `${id}: the timeline's times`)
          for (const values of data) assert.strictEqual(values.length, times.length, `${id}: a point per time`)
          assert.deepStrictEqual(markers, report.disruptions, `${id}: a marker per disruption`)
        }
        // At each snapshot, the charts show what the snapshot lists.
        const valueAt = (id: string, label: string, time: number) => {
          const { labels, data } = chart(id)
          return data[labels.indexOf(label)]![times.indexOf(time)]
        }
        const count = (values: ReadonlyArray<string>, value: string) => values.filter((v) => v === value).length
        for (const snapshot of report.snapshots) {
          for (const type of expectedLabels["chart-instance-types"]!) {
            const nodes = count(
              snapshot.nodes.map((node) => node.instanceType),
              type
            )
            assert.strictEqual(
              valueAt("chart-instance-types", type, snapshot.time),
              nodes,
              `${type} at ${snapshot.time}`
            )
          }
          for (const type of expectedLabels["chart-capacity-types"]!) {
            const nodes = count(
              snapshot.nodes.map((node) => node.capacityType),
              type
            )
            assert.strictEqual(
              valueAt("chart-capacity-types", type, snapshot.time),
              nodes,
              `${type} at ${snapshot.time}`
            )
          }
          const bound = snapshot.nodes.reduce((sum, node) => sum + node.pods.length, 0)
          assert.strictEqual(valueAt("chart-pods", "bound", snapshot.time), bound, `bound at ${snapshot.time}`)
          assert.strictEqual(valueAt("chart-pods", "pending", snapshot.time), snapshot.pendingPods.length)
        }
        assert.strictEqual(valueAt("chart-cost", "cumulative ($)", end), report.summary.costUSD)
        assert.isAbove(valueAt("chart-cpu", "requested", end)!, 0)
        assert.isAtLeast(valueAt("chart-cpu", "allocatable", end)!, valueAt("chart-cpu", "requested", end)!)

        // The disruption list, and the event table with its filter.
        assert.deepStrictEqual(
          rendered.disruptionRows.map(([, reason, nodes, replacements]) => [reason, nodes, replacements]),
          report.disruptions.map((d) => [d.reason, d.candidates.join(", "), d.replacements.join(", ") || "none"])
        )
        assert.strictEqual(rendered.eventRows, report.events.length)
        const matching = report.events.filter((event) =>
          `${event.reason} ${event.kind} ${event.name} ${event.message}`.toLowerCase().includes(node)
        )
        assert.isAbove(matching.length, 0)
        assert.isBelow(matching.length, report.events.length)
        assert.strictEqual(rendered.filteredRows, matching.length, `events naming ${node}`)
      }),
    120_000
  )
})
