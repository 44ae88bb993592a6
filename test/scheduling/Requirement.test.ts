import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Requirement from "../../src/scheduling/Requirement.ts"
import * as Requirements from "../../src/scheduling/Requirements.ts"
import * as Property from "../support/Property.ts"

/** Label values the generated requirements draw from, mixing words and integers (with a non-canonical "07"). */
const valuePool: ReadonlyArray<string> = ["A", "B", "C", "1", "2", "5", "7", "9", "10", "-3", "07", "0"]

/** Values to probe membership with: the pool plus every integer in a window around the generated bounds. */
const sampleValues: ReadonlyArray<string> = [
  ...valuePool,
  ...Array.from({ length: 22 }, (_, index) => String(index - 7)),
  "x",
  ""
]

const operators: ReadonlyArray<Requirement.Operator> = [
  "In",
  "NotIn",
  "Exists",
  "DoesNotExist",
  "Gt",
  "Lt",
  "Gte",
  "Lte"
]

const numericOperators: ReadonlySet<Requirement.Operator> = new Set(["Gt", "Lt", "Gte", "Lte"])

/** A requirement on "key" from a random operator (an `In` has at least one value). */
const single: fc.Arbitrary<Requirement.Requirement> = fc
  .record({
    operator: fc.constantFrom(...operators),
    bound: fc.integer({ min: -4, max: 11 }),
    values: fc.subarray([...valuePool]),
    minValues: Property.sometimes(0.2, fc.integer({ min: 1, max: 3 }))
  })
  .map(({ operator, bound, values, minValues }) =>
    Requirement.make(
      "key",
      operator,
      numericOperators.has(operator) ? [String(bound)] : operator === "In" && values.length === 0 ? ["A"] : values,
      minValues
    )
  )

/** A single requirement, or sometimes the intersection of two, to reach bounded complements. */
const requirements: fc.Arbitrary<Requirement.Requirement> = Property.weighted(
  [65, single],
  [35, fc.tuple(single, single).map(([a, b]) => Requirement.intersection(a, b))]
)

/** A draw of a random source: [0, 1). */
const draws = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })

/** A requirement as comparable plain data. */
const view = (req: Requirement.Requirement) => ({
  key: req.key,
  complement: req.complement,
  values: Requirement.values(req),
  greaterThan: req.greaterThan ?? null,
  lessThan: req.lessThan ?? null,
  minValues: req.minValues ?? null
})

// Upstream requirement_test.go's fixtures, in its order.
const fixtures = {
  exists: Requirement.make("key", "Exists"),
  doesNotExist: Requirement.make("key", "DoesNotExist"),
  inA: Requirement.make("key", "In", ["A"]),
  inB: Requirement.make("key", "In", ["B"]),
  inAB: Requirement.make("key", "In", ["A", "B"]),
  notInA: Requirement.make("key", "NotIn", ["A"]),
  in1: Requirement.make("key", "In", ["1"]),
  in9: Requirement.make("key", "In", ["9"]),
  in19: Requirement.make("key", "In", ["1", "9"]),
  notIn12: Requirement.make("key", "NotIn", ["1", "2"]),
  greaterThan1: Requirement.make("key", "Gt", ["1"]),
  greaterThan9: Requirement.make("key", "Gt", ["9"]),
  lessThan1: Requirement.make("key", "Lt", ["1"]),
  lessThan9: Requirement.make("key", "Lt", ["9"])
}
type Name = keyof typeof fixtures
const names = Object.keys(fixtures) as Array<Name>

/** A requirement spelled out: complement, values, bounds. */
const raw = (
  complement: boolean,
  values: Array<string>,
  greaterThan?: number,
  lessThan?: number
): Requirement.Requirement => ({ key: "key", complement, values: new Set(values), greaterThan, lessThan })

// Short names for the table: the fixtures, plus the mixed results upstream spells out as struct literals.
const short: Record<string, Requirement.Requirement> = {
  E: fixtures.exists,
  D: fixtures.doesNotExist,
  a: fixtures.inA,
  b: fixtures.inB,
  ab: fixtures.inAB,
  "!a": fixtures.notInA,
  "1": fixtures.in1,
  "9": fixtures.in9,
  "19": fixtures.in19,
  "!12": fixtures.notIn12,
  ">1": fixtures.greaterThan1,
  ">9": fixtures.greaterThan9,
  "<1": fixtures.lessThan1,
  "<9": fixtures.lessThan9,
  "!a12": raw(true, ["1", "2", "A"]),
  ">1!2": raw(true, ["2"], 1),
  "<9!12": raw(true, ["1", "2"], undefined, 9),
  ">1<9": raw(true, [], 1, 9)
}

// Row ∩ column (columns in fixture order), transcribed from upstream's "should intersect two requirements without
// minValues" table.
const intersectionTable: Record<Name, string> = {
  exists: "E D a b ab !a 1 9 19 !12 >1 >9 <1 <9",
  doesNotExist: "D D D D D D D D D D D D D D",
  inA: "a D a D a D D D D a D D D D",
  inB: "b D D b b b D D D b D D D D",
  inAB: "ab D a b ab b D D D ab D D D D",
  notInA: "!a D D b b !a 1 9 19 !a12 >1 >9 <1 <9",
  in1: "1 D D D D 1 1 D 1 D D D D 1",
  in9: "9 D D D D 9 D 9 9 9 9 D D D",
  in19: "19 D D D D 19 1 9 19 9 9 D D 1",
  notIn12: "!12 D a b ab !a12 D 9 9 !12 >1!2 >9 <1 <9!12",
  greaterThan1: ">1 D D D D >1 D 9 9 >1!2 >1 >9 D >1<9",
  greaterThan9: ">9 D D D D >9 D D D >9 >9 >9 D D",
  lessThan1: "<1 D D D D <1 D D D <1 D D <1 <1",
  lessThan9: "<9 D D D D <9 1 D 1 <9!12 >1<9 D <1 <9"
}

// Upstream's "Has" table: which fixtures allow each probed value.
const hasTable: Record<string, string> = {
  A: "10101000010000",
  B: "10011100010000",
  "1": "10000110100001",
  "2": "10000100001001",
  "9": "10000101111000"
}

describe("Requirement.make", () => {
  it("represents each operator as upstream", () => {
    assert.deepStrictEqual(view(fixtures.inAB), { ...view(fixtures.exists), complement: false, values: ["A", "B"] })
    assert.deepStrictEqual(view(fixtures.notIn12), { ...view(fixtures.exists), values: ["1", "2"] })
    assert.deepStrictEqual(view(fixtures.exists), {
      key: "key",
      complement: true,
      values: [],
      greaterThan: null,
      lessThan: null,
      minValues: null
    })
    assert.deepStrictEqual(view(fixtures.doesNotExist), { ...view(fixtures.exists), complement: false })
    assert.deepStrictEqual(view(fixtures.greaterThan1), { ...view(fixtures.exists), greaterThan: 1 })
    assert.deepStrictEqual(view(fixtures.lessThan9), { ...view(fixtures.exists), lessThan: 9 })
  })

  it("reads Gte n as Gt n-1 and Lte n as Lt n+1", () => {
    assert.deepStrictEqual(view(Requirement.make("key", "Gte", ["2"])), view(Requirement.make("key", "Gt", ["1"])))
    assert.deepStrictEqual(view(Requirement.make("key", "Lte", ["8"])), view(Requirement.make("key", "Lt", ["9"])))
    assert.isTrue(Requirement.has(Requirement.make("key", "Gte", ["2"]), "2"))
    assert.isTrue(Requirement.has(Requirement.make("key", "Lte", ["8"]), "8"))
    assert.isFalse(Requirement.has(Requirement.make("key", "Lte", ["8"]), "9"))
  })

  it("normalizes deprecated keys", () => {
    assert.strictEqual(Requirement.make("beta.kubernetes.io/arch", "In", ["amd64"]).key, "kubernetes.io/arch")
    assert.strictEqual(
      Requirement.make("failure-domain.beta.kubernetes.io/zone", "Exists").key,
      "topology.kubernetes.io/zone"
    )
    assert.strictEqual(Requirement.make("example.com/team", "Exists").key, "example.com/team")
  })

  it("keeps minValues and treats an unknown operator as Exists", () => {
    assert.strictEqual(Requirement.make("key", "In", ["a", "b"], 2).minValues, 2)
    assert.deepStrictEqual(view(Requirement.make("key", "Bogus", ["a"])), view(fixtures.exists))
  })
})

describe("Requirement.intersection", () => {
  for (const row of names) {
    it(`${row} ∩ each fixture matches upstream's table`, () => {
      names.forEach((column, index) => {
        const actual = Requirement.intersection(fixtures[row], fixtures[column])
        const expected = short[intersectionTable[row].split(" ")[index]!]!
        assert.deepStrictEqual(view(actual), view(expected), `${row} ∩ ${column}`)
        assert.strictEqual(
          Requirement.hasIntersection(fixtures[row], fixtures[column]),
          Requirement.len(actual) > 0,
          `hasIntersection(${row}, ${column})`
        )
      })
    })
  }

  it("takes the larger minValues", () => {
    const exists1 = Requirement.make("key", "Exists", [], 1)
    const inAB2 = Requirement.make("key", "In", ["A", "B"], 2)
    assert.deepStrictEqual(view(Requirement.intersection(exists1, fixtures.inAB)), {
      ...view(fixtures.inAB),
      minValues: 1
    })
    assert.deepStrictEqual(view(Requirement.intersection(inAB2, fixtures.doesNotExist)), {
      ...view(fixtures.doesNotExist),
      minValues: 2
    })
    assert.strictEqual(Requirement.intersection(exists1, inAB2).minValues, 2)
    assert.strictEqual(Requirement.intersection(inAB2, exists1).minValues, 2)
    assert.strictEqual(
      Requirement.intersection(fixtures.greaterThan9, Requirement.make("key", "Lt", ["1"], 3)).minValues,
      3
    )
  })

  it("keeps bounds on complements and drops them on concrete results", () => {
    const bounded = Requirement.intersection(fixtures.greaterThan1, fixtures.lessThan9)
    assert.deepStrictEqual([bounded.greaterThan, bounded.lessThan], [1, 9])
    const concrete = Requirement.intersection(bounded, Requirement.make("key", "In", ["3", "9", "x"]))
    assert.deepStrictEqual(view(concrete), view(Requirement.make("key", "In", ["3"])))
  })

  it("yields DoesNotExist when bounds cross or meet, as v1.4.0 compares gt >= lt", () => {
    const meeting = Requirement.intersection(Requirement.make("key", "Gt", ["5"]), Requirement.make("key", "Lt", ["5"]))
    assert.strictEqual(Requirement.operator(meeting), "DoesNotExist")
    // No integer lies strictly between 4 and 5, yet upstream v1.4.0 keeps this as a bounded Exists.
    const gap = Requirement.intersection(Requirement.make("key", "Gt", ["4"]), Requirement.make("key", "Lt", ["5"]))
    assert.strictEqual(Requirement.operator(gap), "Exists")
    assert.isFalse(Requirement.has(gap, "4"))
    assert.isFalse(Requirement.has(gap, "5"))
    const oneValue = Requirement.intersection(
      Requirement.make("key", "Gt", ["4"]),
      Requirement.make("key", "Lt", ["6"])
    )
    assert.isTrue(Requirement.has(oneValue, "5"))
    assert.isFalse(Requirement.has(oneValue, "4"))
    assert.isFalse(Requirement.has(oneValue, "6"))
  })

  it("keys the result by the left side", () => {
    assert.strictEqual(Requirement.intersection(fixtures.inA, Requirement.make("other", "In", ["A"])).key, "key")
  })
})

describe("Requirement.has", () => {
  for (const [value, row] of Object.entries(hasTable)) {
    it(`matches upstream for ${JSON.stringify(value)}`, () => {
      names.forEach((name, index) => {
        assert.strictEqual(Requirement.has(fixtures[name], value), row[index] === "1", `${name} has ${value}`)
      })
    })
  }

  it("reads bounded values as integers like strconv.Atoi", () => {
    assert.isTrue(Requirement.has(fixtures.greaterThan1, "+5"))
    assert.isTrue(Requirement.has(fixtures.greaterThan1, "05"))
    assert.isFalse(Requirement.has(fixtures.greaterThan1, "5.0"))
    assert.isFalse(Requirement.has(fixtures.greaterThan1, " 5"))
    assert.isTrue(Requirement.has(fixtures.lessThan1, "-12"))
  })
})

describe("Requirement.operator, len, values", () => {
  const operators: Record<Name, string> = {
    exists: "Exists",
    doesNotExist: "DoesNotExist",
    inA: "In",
    inB: "In",
    inAB: "In",
    notInA: "NotIn",
    in1: "In",
    in9: "In",
    in19: "In",
    notIn12: "NotIn",
    greaterThan1: "Exists",
    greaterThan9: "Exists",
    lessThan1: "Exists",
    lessThan9: "Exists"
  }
  const lengths: Record<Name, number> = {
    exists: Requirement.Unbounded,
    doesNotExist: 0,
    inA: 1,
    inB: 1,
    inAB: 2,
    notInA: Requirement.Unbounded - 1,
    in1: 1,
    in9: 1,
    in19: 2,
    notIn12: Requirement.Unbounded - 2,
    greaterThan1: Requirement.Unbounded,
    greaterThan9: Requirement.Unbounded,
    lessThan1: Requirement.Unbounded,
    lessThan9: Requirement.Unbounded
  }

  it("reports upstream's operators and lengths", () => {
    for (const name of names) {
      assert.strictEqual(Requirement.operator(fixtures[name]), operators[name], name)
      assert.strictEqual(Requirement.len(fixtures[name]), lengths[name], name)
    }
  })

  it("lists values sorted", () => {
    assert.deepStrictEqual(Requirement.values(Requirement.make("key", "In", ["c", "a", "b"])), ["a", "b", "c"])
  })
})

describe("Requirement.any", () => {
  it("matches upstream's expectations, whatever the draw", () => {
    fc.assert(
      fc.property(draws, (draw) => {
        const random = () => draw
        assert.notStrictEqual(Requirement.any(fixtures.exists, random), "")
        assert.strictEqual(Requirement.any(fixtures.doesNotExist, random), "")
        assert.strictEqual(Requirement.any(fixtures.inA, random), "A")
        assert.strictEqual(Requirement.any(fixtures.in9, random), "9")
        assert.notInclude(["", "A"], Requirement.any(fixtures.notInA, random))
        assert.isAbove(Number(Requirement.any(fixtures.greaterThan1, random)), 1)
        assert.isAbove(Number(Requirement.any(fixtures.greaterThan9, random)), 9)
        assert.strictEqual(Requirement.any(fixtures.lessThan1, random), "0")
        const belowNine = Number(Requirement.any(fixtures.lessThan9, random))
        assert.isTrue(belowNine >= 0 && belowNine < 9)
      }),
      { seed: 7, numRuns: 100 }
    )
  })

  it("gives the smallest value of an In requirement, whatever the draw", () => {
    fc.assert(
      fc.property(draws, (draw) => {
        assert.strictEqual(
          Requirement.any(Requirement.make("key", "In", ["b", "c", "a"]), () => draw),
          "a"
        )
        assert.strictEqual(
          Requirement.any(fixtures.in19, () => draw),
          "1"
        )
      }),
      { seed: 7, numRuns: 100 }
    )
  })

  it("steps past excluded values within the bounds", () => {
    const gt1lt5 = Requirement.intersection(Requirement.make("key", "Gt", ["1"]), Requirement.make("key", "Lt", ["5"]))
    const onlyFour = Requirement.intersection(gt1lt5, Requirement.make("key", "NotIn", ["2", "3"]))
    for (const draw of [0, 0.4, 0.99])
      assert.strictEqual(
        Requirement.any(onlyFour, () => draw),
        "4"
      )
    const none = Requirement.intersection(onlyFour, Requirement.make("key", "NotIn", ["4"]))
    assert.strictEqual(
      Requirement.any(none, () => 0.5),
      ""
    )
  })

  it("finds a value below a non-positive upper bound", () => {
    assert.strictEqual(
      Requirement.any(Requirement.make("key", "Lt", ["0"]), () => 0),
      "-1"
    )
    const value = Requirement.any(Requirement.make("key", "Lt", ["-5"]), () => 0.5)
    assert.isTrue(Requirement.has(Requirement.make("key", "Lt", ["-5"]), value))
  })
})

describe("Requirement.format", () => {
  it("prints as upstream's String()", () => {
    const expected: Record<Name, string> = {
      exists: "key Exists",
      doesNotExist: "key DoesNotExist",
      inA: "key In [A]",
      inB: "key In [B]",
      inAB: "key In [A B]",
      notInA: "key NotIn [A]",
      in1: "key In [1]",
      in9: "key In [9]",
      in19: "key In [1 9]",
      notIn12: "key NotIn [1 2]",
      greaterThan1: "key Exists >1",
      greaterThan9: "key Exists >9",
      lessThan1: "key Exists <1",
      lessThan9: "key Exists <9"
    }
    for (const name of names) assert.strictEqual(Requirement.format(fixtures[name]), expected[name])
    assert.strictEqual(
      Requirement.format(Requirement.intersection(fixtures.greaterThan1, fixtures.lessThan9)),
      "key Exists >1 <9"
    )
    assert.strictEqual(
      Requirement.format(Requirement.intersection(fixtures.greaterThan9, fixtures.lessThan1)),
      "key DoesNotExist"
    )
  })

  it("truncates long value lists and shows minValues", () => {
    assert.strictEqual(
      Requirement.format(Requirement.make("kubernetes.io/arch", "In", ["arm64", "amd64"])),
      "kubernetes.io/arch In [amd64 arm64]"
    )
    assert.strictEqual(
      Requirement.format(Requirement.make("k", "In", ["a", "b", "c", "d", "e", "f", "g"], 3)),
      "k In [a b c d e and 2 others] minValues 3"
    )
  })
})

describe("Requirement.toNodeSelectorRequirement", () => {
  it("renders each fixture as upstream", () => {
    const expected: Record<Name, [Requirement.NodeSelectorOperator, Array<string>]> = {
      exists: ["Exists", []],
      doesNotExist: ["DoesNotExist", []],
      inA: ["In", ["A"]],
      inB: ["In", ["B"]],
      inAB: ["In", ["A", "B"]],
      notInA: ["NotIn", ["A"]],
      in1: ["In", ["1"]],
      in9: ["In", ["9"]],
      in19: ["In", ["1", "9"]],
      notIn12: ["NotIn", ["1", "2"]],
      greaterThan1: ["Gt", ["1"]],
      greaterThan9: ["Gt", ["9"]],
      lessThan1: ["Lt", ["1"]],
      lessThan9: ["Lt", ["9"]]
    }
    for (const name of names) {
      const [operator, values] = expected[name]
      assert.deepStrictEqual(Requirement.toNodeSelectorRequirement(fixtures[name]), { key: "key", operator, values })
    }
  })

  it("carries minValues", () => {
    assert.deepStrictEqual(Requirement.toNodeSelectorRequirement(Requirement.make("key", "Gt", ["3"], 2)), {
      key: "key",
      operator: "Gt",
      values: ["3"],
      minValues: 2
    })
  })

  it("falls back to the upstream operator for mixed requirements, and splits them losslessly", () => {
    assert.deepStrictEqual(Requirement.toNodeSelectorRequirement(short[">1<9"]!), {
      key: "key",
      operator: "Exists",
      values: []
    })
    assert.deepStrictEqual(Requirement.toNodeSelectorRequirement(short[">1!2"]!), {
      key: "key",
      operator: "NotIn",
      values: ["2"]
    })
    assert.deepStrictEqual(Requirement.toNodeSelectorRequirements(short[">1!2"]!), [
      { key: "key", operator: "NotIn", values: ["2"] },
      { key: "key", operator: "Gt", values: ["1"] }
    ])
    assert.deepStrictEqual(Requirement.toNodeSelectorRequirements(short[">1<9"]!), [
      { key: "key", operator: "Gt", values: ["1"] },
      { key: "key", operator: "Lt", values: ["9"] }
    ])
  })
})

describe("Requirement properties (seeded)", () => {
  // Messages are built only on failure: formatting every probe would dominate the run time.
  const describeShape = (req: Requirement.Requirement) =>
    `${Requirement.operator(req)}${req.greaterThan === undefined ? "" : " gt"}${req.lessThan === undefined ? "" : " lt"}`

  it("membership of an intersection is the conjunction of memberships, both ways round", () => {
    const shapes = new Set<string>()
    fc.assert(
      fc.property(requirements, requirements, (a, b) => {
        const ab = Requirement.intersection(a, b)
        const ba = Requirement.intersection(b, a)
        shapes.add(describeShape(a))
        for (const value of sampleValues) {
          const expected = Requirement.has(a, value) && Requirement.has(b, value)
          if (Requirement.has(ab, value) !== expected || Requirement.has(ba, value) !== expected) {
            assert.fail(`${Requirement.format(a)} ∩ ${Requirement.format(b)} for ${JSON.stringify(value)}`)
          }
        }
      }),
      { seed: 20240601, numRuns: 1000 }
    )
    // The generator must reach the interesting shapes, bounded complements with exclusions among them.
    for (const shape of [
      "In",
      "NotIn",
      "Exists",
      "DoesNotExist",
      "Exists gt",
      "Exists lt",
      "Exists gt lt",
      "NotIn gt"
    ]) {
      assert.isTrue(shapes.has(shape), shape)
    }
  })

  it("hasIntersection agrees with len(intersection) > 0 and is symmetric", () => {
    fc.assert(
      fc.property(requirements, requirements, (a, b) => {
        const expected = Requirement.len(Requirement.intersection(a, b)) > 0
        if (Requirement.hasIntersection(a, b) !== expected || Requirement.hasIntersection(b, a) !== expected) {
          assert.fail(`${Requirement.format(a)} ∩ ${Requirement.format(b)}`)
        }
      }),
      { seed: 42, numRuns: 1000 }
    )
  })

  it("any() returns an allowed value whenever it returns one", () => {
    fc.assert(
      fc.property(requirements, draws, (req, draw) => {
        const value = Requirement.any(req, () => draw)
        if (value !== "" && !Requirement.has(req, value)) assert.fail(`${Requirement.format(req)} gave ${value}`)
        if (value === "" && Requirement.operator(req) === "In") assert.fail(`${Requirement.format(req)} gave nothing`)
      }),
      { seed: 99, numRuns: 1000 }
    )
  })

  it("node selector requirements read back to the same membership", () => {
    fc.assert(
      fc.property(requirements, (req) => {
        const back = Requirements.get(
          Requirements.fromNodeSelectorRequirements(Requirement.toNodeSelectorRequirements(req)),
          "key"
        )
        for (const value of sampleValues) {
          if (Requirement.has(back, value) !== Requirement.has(req, value)) {
            assert.fail(
              `${Requirement.format(req)} read back as ${Requirement.format(back)} for ${JSON.stringify(value)}`
            )
          }
        }
        assert.strictEqual(back.minValues, req.minValues)
      }),
      { seed: 5, numRuns: 1000 }
    )
  })
})
