import { assert, describe, it } from "@effect/vitest"
import * as FieldSelector from "../../src/kube/FieldSelector.ts"

const parsed = (text: string): FieldSelector.Selector => {
  const result = FieldSelector.parse(text)
  if (!result.ok) throw new Error(`parse ${JSON.stringify(text)}: ${result.message}`)
  return result.selector
}

const parseError = (text: string): string => {
  const result = FieldSelector.parse(text)
  if (result.ok) throw new Error(`parse ${JSON.stringify(text)} succeeded`)
  return result.message
}

const pod = (name: string, nodeName: string | undefined, phase: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default" },
  spec: { ...(nodeName === undefined ? {} : { nodeName }), restartPolicy: "Always", ...extra },
  status: { phase }
})

const selects = (text: string, object: unknown): boolean => FieldSelector.matches(parsed(text), object)

describe("FieldSelector", () => {
  it("parses =, == and != into terms, sorted", () => {
    assert.deepStrictEqual(parsed("spec.nodeName==n1,metadata.name!=x,status.phase=Running"), {
      terms: [
        { field: "metadata.name", operator: "!=", value: "x" },
        { field: "spec.nodeName", operator: "=", value: "n1" },
        { field: "status.phase", operator: "=", value: "Running" }
      ]
    })
  })

  it("selects everything with the empty string", () => {
    assert.deepStrictEqual(parsed(""), FieldSelector.everything)
    assert.isTrue(selects("", { anything: true }))
    assert.isTrue(selects("", undefined))
    assert.deepStrictEqual(parsed("a=b,"), { terms: [{ field: "a", operator: "=", value: "b" }] })
  })

  it("matches equality and inequality, ANDed", () => {
    const running = pod("a", "node1", "Running")
    assert.isTrue(selects("spec.nodeName=node1", running))
    assert.isTrue(selects("spec.nodeName==node1", running))
    assert.isFalse(selects("spec.nodeName=node2", running))
    assert.isTrue(selects("spec.nodeName!=node2", running))
    assert.isFalse(selects("spec.nodeName!=node1", running))
    assert.isTrue(selects("spec.nodeName=node1,status.phase=Running,metadata.name=a", running))
    assert.isFalse(selects("spec.nodeName=node1,status.phase=Pending", running))
  })

  it("compares a missing field as the empty string: spec.nodeName= selects unscheduled pods", () => {
    const unscheduled = pod("u", undefined, "Pending")
    const scheduled = pod("s", "node1", "Running")
    assert.isTrue(selects("spec.nodeName=", unscheduled))
    assert.isFalse(selects("spec.nodeName=", scheduled))
    assert.isTrue(selects("spec.nodeName!=", scheduled))
    assert.isFalse(selects("spec.nodeName!=", unscheduled))
    assert.isTrue(selects("status.nominatedNodeName=", scheduled))
  })

  it("selects describe's non-terminal pods", () => {
    const text = "spec.nodeName=node1,status.phase!=Succeeded,status.phase!=Failed"
    assert.isTrue(selects(text, pod("a", "node1", "Running")))
    assert.isTrue(selects(text, pod("b", "node1", "Pending")))
    assert.isFalse(selects(text, pod("c", "node1", "Succeeded")))
    assert.isFalse(selects(text, pod("d", "node1", "Failed")))
    assert.isFalse(selects(text, pod("e", "node2", "Running")))
  })

  it("renders booleans and numbers as strings, with the server's defaults", () => {
    assert.isTrue(selects("spec.hostNetwork=true", pod("h", "n", "Running", { hostNetwork: true })))
    assert.isTrue(selects("spec.hostNetwork=false", pod("h", "n", "Running")))
    assert.isTrue(selects("spec.unschedulable=true", { spec: { unschedulable: true } }))
    assert.isTrue(selects("spec.unschedulable=false", { spec: {} }))
    assert.isTrue(selects("spec.unschedulable!=true", { metadata: { name: "n" } }))
    assert.strictEqual(FieldSelector.fieldValue({ a: { b: 3 } }, "a.b"), "3")
    assert.strictEqual(FieldSelector.fieldValue({ a: { b: { c: 1 } } }, "a.b"), "")
    assert.strictEqual(FieldSelector.fieldValue({ a: null }, "a.b"), "")
    assert.strictEqual(FieldSelector.fieldValue("scalar", "a"), "")
  })

  it("reads status.podIP, falling back to status.podIPs", () => {
    assert.strictEqual(FieldSelector.fieldValue({ status: { podIP: "10.0.0.1" } }, "status.podIP"), "10.0.0.1")
    assert.strictEqual(
      FieldSelector.fieldValue({ status: { podIPs: [{ ip: "10.0.0.2" }] } }, "status.podIP"),
      "10.0.0.2"
    )
    assert.strictEqual(FieldSelector.fieldValue({ status: {} }, "status.podIP"), "")
  })

  it("reads an event's fields, source meaning source.component then reportingComponent", () => {
    const event = {
      metadata: { name: "e1", namespace: "default" },
      involvedObject: { kind: "Pod", namespace: "default", name: "p", uid: "u-1", apiVersion: "v1" },
      reason: "Scheduled",
      type: "Normal",
      source: { component: "default-scheduler" },
      reportingComponent: "karpenter"
    }
    assert.isTrue(selects("involvedObject.kind=Pod,involvedObject.name=p,involvedObject.uid=u-1", event))
    assert.isTrue(selects("involvedObject.fieldPath=,involvedObject.resourceVersion=", event))
    assert.isTrue(selects("reason=Scheduled,type=Normal", event))
    assert.isTrue(selects("source=default-scheduler", event))
    assert.isTrue(selects("reportingComponent=karpenter", event))
    assert.isTrue(selects("source=karpenter", { reportingComponent: "karpenter" }))
    assert.isTrue(selects("source=karpenter", { source: {}, reportingComponent: "karpenter" }))
  })

  it("accepts a custom field reader", () => {
    const selector = parsed("x=1")
    assert.isTrue(FieldSelector.matches(selector, {}, () => "1"))
    assert.isFalse(FieldSelector.matches(selector, {}, () => "2"))
  })

  it("unescapes values and rejects bad escapes and bare separators", () => {
    assert.deepStrictEqual(parsed("a=x\\,y\\=z\\\\"), { terms: [{ field: "a", operator: "=", value: "x,y=z\\" }] })
    assert.strictEqual(parseError("a=b\\c"), "invalid field selector: invalid escape sequence: \\c")
    assert.strictEqual(parseError("a=b\\"), "invalid field selector: invalid escape sequence: \\")
    assert.strictEqual(parseError("a=b=c"), "invalid field selector: unescaped character in value: =")
  })

  it("rejects terms without an operator", () => {
    assert.strictEqual(
      parseError("spec.nodeName"),
      "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"
    )
    assert.strictEqual(parseError("a=b,c"), "invalid selector: 'a=b,c'; can't understand 'c'")
  })

  it("does not trim whitespace, like upstream", () => {
    const selector = parsed("spec.nodeName = n1")
    assert.deepStrictEqual(selector.terms, [{ field: "spec.nodeName ", operator: "=", value: " n1" }])
    assert.strictEqual(
      FieldSelector.validate(selector, FieldSelector.supportedFields("", "Pod")),
      "field label not supported: spec.nodeName "
    )
  })

  it("round-trips through format and parse", () => {
    for (const text of ["", "a=b", "a!=b", "b=1,a=2", "a=x\\,y\\=z\\\\", "spec.nodeName=", "a==b"]) {
      const once = parsed(text)
      assert.deepStrictEqual(parsed(FieldSelector.format(once)), once, text)
    }
    assert.strictEqual(FieldSelector.format(parsed("b==1,a!=2")), "a!=2,b=1")
    assert.strictEqual(
      FieldSelector.format(FieldSelector.fromFields({ "spec.nodeName": "n,1" })),
      "spec.nodeName=n\\,1"
    )
  })

  describe("supported fields", () => {
    const supported = (group: string, kind: string) => [...FieldSelector.supportedFields(group, kind)].sort()

    it("lists the per-kind fields", () => {
      assert.deepStrictEqual(supported("", "Pod"), [
        "metadata.name",
        "metadata.namespace",
        "spec.hostNetwork",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.nominatedNodeName",
        "status.phase",
        "status.podIP"
      ])
      assert.deepStrictEqual(supported("", "Node"), ["metadata.name", "spec.unschedulable"])
      assert.deepStrictEqual(supported("", "Namespace"), ["metadata.name", "status.phase"])
      assert.deepStrictEqual(supported("", "Event"), [
        "involvedObject.apiVersion",
        "involvedObject.fieldPath",
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.resourceVersion",
        "involvedObject.uid",
        "metadata.name",
        "metadata.namespace",
        "reason",
        "reportingComponent",
        "source",
        "type"
      ])
      assert.deepStrictEqual(supported("karpenter.sh", "NodeClaim"), ["metadata.name", "metadata.namespace"])
      assert.deepStrictEqual(supported("", "ConfigMap"), ["metadata.name", "metadata.namespace"])
      assert.deepStrictEqual(supported("events.k8s.io", "Event"), ["metadata.name", "metadata.namespace"])
    })

    it("validates a selector against them", () => {
      const pods = FieldSelector.supportedFields("", "Pod")
      assert.isUndefined(FieldSelector.validate(parsed("spec.nodeName=n1,status.phase!=Failed"), pods))
      assert.isUndefined(FieldSelector.validate(parsed(""), pods))
      assert.strictEqual(
        FieldSelector.validate(parsed("metadata.name=a,spec.priority=1"), pods),
        "field label not supported: spec.priority"
      )
      const nodeClaims = FieldSelector.supportedFields("karpenter.sh", "NodeClaim")
      assert.isUndefined(FieldSelector.validate(parsed("metadata.name=nc"), nodeClaims))
      assert.strictEqual(
        FieldSelector.validate(parsed("spec.nodeName=n1"), nodeClaims),
        "field label not supported: spec.nodeName"
      )
      assert.strictEqual(
        FieldSelector.validate(parsed("metadata.namespace=x"), FieldSelector.supportedFields("", "Node")),
        "field label not supported: metadata.namespace"
      )
    })
  })
})
