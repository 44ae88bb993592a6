/** The report page as text: whatever the run's strings hold, they stay data (no markup, no end of a script). */
import { assert, describe, it } from "@effect/vitest"
import type * as Simulation from "../../src/cluster/Simulation.ts"
import * as SimulationReport from "../../src/operator/SimulationReport.ts"

const hostile = `</script><script>alert("x")</script><!--`

const run: Simulation.Run = {
  snapshots: [{ time: 60, nodes: [], nodeClaims: [], nodePools: [], pendingPods: [] }],
  disruptions: [{ time: 30, reason: "Empty", candidates: [hostile], replacements: [] }],
  events: [{ time: 30, reason: "Evicted", kind: "Pod", name: hostile, message: `${hostile} & <b>bold</b>` }],
  summary: { nodesLaunched: 0, nodesTerminated: 0, costUSD: 0, peakNodes: 0 },
  timeline: []
}

describe("SimulationReport.render", () => {
  it("keeps the run's strings out of the markup and inlines the library safely", () => {
    const html = SimulationReport.render(run, hostile, { script: `var a = "</script>";`, style: "a{}</style>" })
    // The page's own three scripts (data, uPlot, the page) and its two style sheets, no more.
    assert.strictEqual(html.match(/<\/script>/gi)?.length, 3)
    assert.strictEqual(html.match(/<script\b/gi)?.length, 3)
    assert.strictEqual(html.match(/<\/style>/gi)?.length, 2)
    assert.notInclude(html, "<!--")
    assert.include(html, `<title>Simulation report: &lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)`)
    const data = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html)?.[1]
    assert.deepStrictEqual(JSON.parse(data!), {
      timeline: [],
      disruptions: run.disruptions,
      events: run.events,
      summary: run.summary
    })
  })

  it("loads nothing: no element points at another resource, and the policy forbids fetching", () => {
    const html = SimulationReport.render(run, "demo", { script: "", style: "" })
    assert.notMatch(html, /\b(src|href)=/i)
    assert.include(html, `content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"`)
  })
})
