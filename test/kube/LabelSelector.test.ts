import { assert, describe, it } from "@effect/vitest"
import type * as Meta from "../../src/api/Meta.ts"
import * as LabelSelector from "../../src/kube/LabelSelector.ts"

const parsed = (text: string): LabelSelector.Selector => {
  const result = LabelSelector.parse(text)
  if (!result.ok) throw new Error(`parse ${JSON.stringify(text)}: ${result.message}`)
  return result.selector
}

const parseError = (text: string): string => {
  const result = LabelSelector.parse(text)
  if (result.ok) throw new Error(`parse ${JSON.stringify(text)} succeeded: ${LabelSelector.format(result.selector)}`)
  return result.message
}

const selects = (text: string, labels?: Record<string, string>): boolean => LabelSelector.matches(parsed(text), labels)

const fromObject = (
  labelSelector: LabelSelector.LabelSelectorInput | null | undefined,
  options?: LabelSelector.FromLabelSelectorOptions
): LabelSelector.Selector => {
  const result = LabelSelector.fromLabelSelector(labelSelector, options)
  if (!result.ok) throw new Error(result.message)
  return result.selector
}

describe("LabelSelector", () => {
  describe("parse and matches", () => {
    it("selects everything with the empty string, also objects without labels", () => {
      assert.isTrue(LabelSelector.isEverything(parsed("")))
      assert.isTrue(LabelSelector.isEverything(parsed("   ")))
      assert.isTrue(selects("", undefined))
      assert.isTrue(selects("", { a: "b" }))
    })

    it("matches equality with = and ==", () => {
      for (const text of ["app=web", "app==web"]) {
        assert.isTrue(selects(text, { app: "web" }))
        assert.isFalse(selects(text, { app: "db" }))
        assert.isFalse(selects(text, {}))
        assert.isFalse(selects(text, undefined))
      }
      assert.deepStrictEqual(parsed("app==web"), {
        _tag: "Requirements",
        requirements: [{ key: "app", operator: "==", values: ["web"] }]
      })
    })

    it("matches != and lets objects lacking the label through", () => {
      assert.isFalse(selects("app!=web", { app: "web" }))
      assert.isTrue(selects("app!=web", { app: "db" }))
      assert.isTrue(selects("app!=web", {}))
      assert.isTrue(selects("app!=web", undefined))
    })

    it("matches in and notin, notin letting objects lacking the label through", () => {
      assert.isTrue(selects("env in (prod,staging)", { env: "prod" }))
      assert.isTrue(selects("env in (prod,staging)", { env: "staging" }))
      assert.isFalse(selects("env in (prod,staging)", { env: "dev" }))
      assert.isFalse(selects("env in (prod,staging)", {}))
      assert.isFalse(selects("env notin (prod,staging)", { env: "prod" }))
      assert.isTrue(selects("env notin (prod,staging)", { env: "dev" }))
      assert.isTrue(selects("env notin (prod,staging)", {}))
      assert.isTrue(selects("env notin (prod,staging)", undefined))
    })

    it("matches existence and non-existence", () => {
      assert.isTrue(selects("app", { app: "" }))
      assert.isFalse(selects("app", { other: "x" }))
      assert.isFalse(selects("!app", { app: "web" }))
      assert.isTrue(selects("!app", { other: "x" }))
      assert.isTrue(selects("!app", undefined))
      assert.deepStrictEqual(parsed("!app,tier"), {
        _tag: "Requirements",
        requirements: [
          { key: "app", operator: "!", values: [] },
          { key: "tier", operator: "exists", values: [] }
        ]
      })
    })

    it("compares k>n and k<n as integers and requires the label to exist and be an integer", () => {
      assert.isTrue(selects("size>5", { size: "10" }))
      assert.isFalse(selects("size>5", { size: "5" }))
      assert.isFalse(selects("size>5", { size: "3" }))
      assert.isTrue(selects("size<5", { size: "3" }))
      assert.isTrue(selects("size<5", { size: "-7" }))
      assert.isFalse(selects("size<5", { size: "5" }))
      assert.isFalse(selects("size>5", {}))
      assert.isFalse(selects("size<5", {}))
      assert.isFalse(selects("size>5", { size: "big" }))
      assert.isFalse(selects("size<5", { size: "1.5" }))
      // int64, exactly: beyond Number's precision and beyond int64.
      assert.isTrue(selects("size>9007199254740992", { size: "9007199254740993" }))
      assert.isFalse(selects("size>1", { size: "9223372036854775808" }))
      assert.isTrue(selects("size>1", { size: "9223372036854775807" }))
    })

    it("ANDs comma-separated requirements and tolerates whitespace", () => {
      const text = "  app = web ,  env  in ( prod , staging ) ,  !legacy,tier  "
      assert.isTrue(selects(text, { app: "web", env: "prod", tier: "front" }))
      assert.isFalse(selects(text, { app: "web", env: "prod" }))
      assert.isFalse(selects(text, { app: "web", env: "prod", tier: "front", legacy: "yes" }))
      assert.isFalse(selects(text, { app: "db", env: "prod", tier: "front" }))
      assert.strictEqual(LabelSelector.format(parsed(text)), "app=web,env in (prod,staging),!legacy,tier")
    })

    it("reads empty values: k=, k in (), and empty entries in a list", () => {
      assert.isTrue(selects("app=", { app: "" }))
      assert.isFalse(selects("app=", {}))
      assert.isFalse(selects("app=", { app: "x" }))
      assert.deepStrictEqual(parsed("a in ()"), {
        _tag: "Requirements",
        requirements: [{ key: "a", operator: "in", values: [""] }]
      })
      assert.deepStrictEqual(parsed("a in (,x)"), {
        _tag: "Requirements",
        requirements: [{ key: "a", operator: "in", values: ["", "x"] }]
      })
      assert.deepStrictEqual(parsed("a in (x,,y,)"), {
        _tag: "Requirements",
        requirements: [{ key: "a", operator: "in", values: ["", "x", "y"] }]
      })
    })

    it("treats in and notin as identifiers in key and value positions", () => {
      assert.isTrue(selects("in in (in,notin)", { in: "notin" }))
      assert.isTrue(selects("notin=in", { notin: "in" }))
    })

    it("accepts prefixed keys", () => {
      assert.isTrue(selects("karpenter.sh/nodepool=default", { "karpenter.sh/nodepool": "default" }))
      assert.isTrue(selects("!karpenter.sh/initialized", { "karpenter.sh/registered": "true" }))
    })

    it("sorts requirements by key and dedupes set values", () => {
      assert.deepStrictEqual(parsed("b=1,a in (z,y,z)"), {
        _tag: "Requirements",
        requirements: [
          { key: "a", operator: "in", values: ["y", "z"] },
          { key: "b", operator: "=", values: ["1"] }
        ]
      })
    })
  })

  describe("parse errors", () => {
    it("reports syntax errors as apimachinery does", () => {
      assert.strictEqual(parseError("x=a,"), "found '', expected: identifier after ','")
      assert.strictEqual(parseError(",x=a"), "found ',', expected: !, identifier, or 'end of string'")
      assert.strictEqual(parseError("x=a y=b"), "found 'y', expected: ',' or 'end of string'")
      assert.strictEqual(parseError("x in"), "unable to parse requirement: found '' expected: '('")
      assert.strictEqual(parseError("x in (a"), "unable to parse requirement: found '', expected: ',' or ')'")
      assert.strictEqual(parseError("x in (a b)"), "unable to parse requirement: found 'b', expected: ',' or ')'")
      assert.strictEqual(
        parseError("x in (=)"),
        "unable to parse requirement: found '=', expected: ',', ')' or identifier"
      )
      assert.strictEqual(
        parseError("x (a)"),
        "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"
      )
      assert.strictEqual(parseError("x=(a)"), "unable to parse requirement: found '(', expected: identifier")
      assert.strictEqual(parseError("!=a"), "found '!=', expected: !, identifier, or 'end of string'")
      assert.strictEqual(parseError("! =a"), "unable to parse requirement: found '=', expected: identifier")
      assert.strictEqual(parseError("!x=a"), "found '=', expected: ',' or 'end of string'")
    })

    it("validates keys as qualified names", () => {
      assert.include(
        parseError("a/b/c=x"),
        'unable to parse requirement: key: Invalid value: "a/b/c": a qualified name'
      )
      assert.include(parseError("/b=x"), "prefix part must be non-empty")
      assert.include(parseError("Example.com/b=x"), "prefix part a lowercase RFC 1123 subdomain")
      assert.include(parseError("a/=x"), "name part must be non-empty")
      assert.include(parseError("-a=x"), "name part must consist of alphanumeric characters")
      assert.include(parseError(`${"k".repeat(64)}=x`), "name part must be no more than 63 characters")
      assert.include(parseError(`${"p".repeat(254)}/k=x`), "prefix part must be no more than 253 characters")
      assert.isTrue(LabelSelector.parse(`${"k".repeat(63)}=x`).ok)
    })

    it("validates values as label values", () => {
      assert.include(parseError("a=-x"), 'values[0]: Invalid value: "-x": a valid label must be an empty string')
      assert.include(parseError("a in (ok,x_)"), 'Invalid value: "x_"')
      assert.include(parseError(`a=${"v".repeat(64)}`), "must be no more than 63 characters")
    })

    it("requires integer bounds for k>n and k<n", () => {
      assert.include(parseError("a>b"), "for 'Gt', 'Lt' operators, the value must be an integer")
      assert.include(parseError("a<"), "for 'Gt', 'Lt' operators, the value must be an integer")
      assert.include(parseError("a>99999999999999999999"), "the value must be an integer")
    })
  })

  describe("format", () => {
    it("writes every operator in upstream's spelling, sorted by key", () => {
      const text = "i in (b,a),e=1,d==2,n!=3,x notin (q),k,!m,g>4,l<5"
      assert.strictEqual(LabelSelector.format(parsed(text)), "d==2,e=1,g>4,i in (a,b),k,l<5,!m,n!=3,x notin (q)")
    })

    it("round-trips through parse", () => {
      const texts = [
        "",
        "a=b",
        "a==b",
        "a!=b",
        "a in (x,y)",
        "a notin (x)",
        "a",
        "!a",
        "a>1",
        "a<0",
        "a=",
        "a in ()",
        "a in (,b)",
        "example.com/a in (1,2,3),b notin (q),c,!d,e>10,f<20,g=h,i!=",
        "z=1,z!=2,a=0"
      ]
      for (const text of texts) {
        const once = parsed(text)
        const formatted = LabelSelector.format(once)
        assert.deepStrictEqual(parsed(formatted), once, text)
        assert.strictEqual(LabelSelector.format(parsed(formatted)), formatted, text)
      }
    })

    it("formats nothing as the empty string, like upstream", () => {
      assert.strictEqual(LabelSelector.format(LabelSelector.nothing), "")
      assert.isTrue(LabelSelector.isNothing(LabelSelector.nothing))
      assert.isFalse(LabelSelector.isNothing(LabelSelector.everything))
    })
  })

  describe("constants and labels", () => {
    it("everything selects all and nothing selects none", () => {
      assert.isTrue(LabelSelector.matches(LabelSelector.everything, undefined))
      assert.isTrue(LabelSelector.matches(LabelSelector.everything, { a: "b" }))
      assert.isFalse(LabelSelector.matches(LabelSelector.nothing, undefined))
      assert.isFalse(LabelSelector.matches(LabelSelector.nothing, { a: "b" }))
    })

    it("builds an equality selector from labels", () => {
      const selector = LabelSelector.fromLabels({ b: "2", a: "1" })
      assert.strictEqual(LabelSelector.format(selector), "a=1,b=2")
      assert.isTrue(LabelSelector.matches(selector, { a: "1", b: "2", c: "3" }))
      assert.isFalse(LabelSelector.matches(selector, { a: "1" }))
      assert.isTrue(LabelSelector.isEverything(LabelSelector.fromLabels({})))
      assert.isTrue(LabelSelector.isEverything(LabelSelector.fromLabels(undefined)))
    })

    it("builds validated requirements", () => {
      const ok = LabelSelector.requirement("a", "in", ["y", "x", "y"])
      assert.deepStrictEqual(ok, { ok: true, requirement: { key: "a", operator: "in", values: ["x", "y"] } })
      const empty = LabelSelector.requirement("a", "notin", [])
      assert.isFalse(empty.ok)
      if (!empty.ok) assert.include(empty.message, "values set can't be empty")
      const several = LabelSelector.requirement("a", "=", ["x", "y"])
      if (!several.ok) assert.include(several.message, "exact-match compatibility requires one single value")
      const exists = LabelSelector.requirement("a", "exists", ["x"])
      if (!exists.ok) assert.include(exists.message, "values set must be empty for exists and does not exist")
      const both = LabelSelector.requirement("a/b/c", "gt", ["x"])
      assert.isFalse(both.ok)
      if (!both.ok) assert.isTrue(both.message.startsWith("[key: Invalid value"))
      assert.deepStrictEqual(LabelSelector.keyErrors("example.com/ok"), [])
      assert.deepStrictEqual(LabelSelector.valueErrors(""), [])
    })
  })

  describe("fromLabelSelector", () => {
    it("turns matchLabels into equalities and matchExpressions into set requirements", () => {
      const ls: Meta.LabelSelector = {
        matchLabels: { app: "web" },
        matchExpressions: [
          { key: "env", operator: "In", values: ["prod", "staging"] },
          { key: "tier", operator: "NotIn", values: ["db"] },
          { key: "owner", operator: "Exists" },
          { key: "legacy", operator: "DoesNotExist", values: [] }
        ]
      }
      const selector = fromObject(ls)
      assert.strictEqual(LabelSelector.format(selector), "app=web,env in (prod,staging),!legacy,owner,tier notin (db)")
      assert.isTrue(LabelSelector.matches(selector, { app: "web", env: "prod", owner: "me" }))
      assert.isFalse(LabelSelector.matches(selector, { app: "web", env: "prod", owner: "me", tier: "db" }))
      assert.isFalse(LabelSelector.matches(selector, { app: "web", env: "prod", owner: "me", legacy: "" }))
      assert.isFalse(LabelSelector.matches(selector, { app: "web", env: "prod" }))
      assert.isFalse(LabelSelector.matches(selector, { app: "db", env: "prod", owner: "me" }))
    })

    it("selects everything with an empty selector and nothing with an absent one, unless told otherwise", () => {
      assert.isTrue(LabelSelector.isEverything(fromObject({})))
      assert.isTrue(LabelSelector.isEverything(fromObject({ matchLabels: {}, matchExpressions: [] })))
      assert.isTrue(LabelSelector.matches(fromObject({}), undefined))
      assert.isTrue(LabelSelector.isNothing(fromObject(undefined)))
      assert.isTrue(LabelSelector.isNothing(fromObject(null)))
      assert.isFalse(LabelSelector.matches(fromObject(undefined), { a: "b" }))
      assert.isTrue(LabelSelector.isEverything(fromObject(undefined, { absent: "everything" })))
      assert.isTrue(LabelSelector.isNothing(fromObject(undefined, { absent: "nothing" })))
      assert.isTrue(LabelSelector.matchesLabelSelector({}, { a: "b" }))
      assert.isFalse(LabelSelector.matchesLabelSelector(undefined, { a: "b" }))
      assert.isTrue(LabelSelector.matchesLabelSelector(undefined, { a: "b" }, { absent: "everything" }))
    })

    it("rejects unknown operators and invalid requirements", () => {
      const gt = LabelSelector.fromLabelSelector({ matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }] })
      assert.deepStrictEqual(gt, { ok: false, message: '"Gt" is not a valid label selector operator' })
      const empty = LabelSelector.fromLabelSelector({ matchExpressions: [{ key: "a", operator: "In" }] })
      assert.isFalse(empty.ok)
      if (!empty.ok) assert.include(empty.message, "values set can't be empty")
      const badLabel = LabelSelector.fromLabelSelector({ matchLabels: { "a b": "c" } })
      assert.isFalse(badLabel.ok)
      assert.isFalse(LabelSelector.matchesLabelSelector({ matchLabels: { "a b": "c" } }, { "a b": "c" }))
    })
  })
})
