/**
 * Kubernetes label selectors, as `k8s.io/apimachinery/pkg/labels` (selector.go) and `metav1.LabelSelectorAsSelector`:
 * the string syntax of `?labelSelector=` and the object form of PDBs, Deployments and affinity terms.
 *
 * A selector is plain data. Requirements are ANDed; a selector without requirements selects everything, and the
 * distinct {@link nothing} selector (what an absent object-form selector means) selects nothing.
 */

/** A requirement operator, spelled as apimachinery's `selection.Operator`. */
export type Operator = "=" | "==" | "!=" | "in" | "notin" | "exists" | "!" | "gt" | "lt"

/** One requirement: a key, an operator and its values (sorted and distinct; empty for `exists` and `!`). */
export interface Requirement {
  readonly key: string
  readonly operator: Operator
  readonly values: ReadonlyArray<string>
}

/** A label selector: requirements ANDed together, or the selector that matches nothing. */
export type Selector =
  | { readonly _tag: "Requirements"; readonly requirements: ReadonlyArray<Requirement> }
  | { readonly _tag: "Nothing" }

/** The outcome of building a selector: the selector, or apimachinery's error message. */
export type Result =
  | { readonly ok: true; readonly selector: Selector }
  | { readonly ok: false; readonly message: string }

/** The outcome of building one requirement. */
export type RequirementResult =
  | { readonly ok: true; readonly requirement: Requirement }
  | { readonly ok: false; readonly message: string }

/** `metav1.LabelSelector` as it arrives on the wire; `Meta.LabelSelector` is assignable to it. */
export interface LabelSelectorInput {
  readonly matchLabels?: Readonly<Record<string, string>> | null | undefined
  readonly matchExpressions?:
    | ReadonlyArray<{
        readonly key: string
        readonly operator: string
        readonly values?: ReadonlyArray<string> | null | undefined
      }>
    | null
    | undefined
}

/** Options of {@link fromLabelSelector}. */
export interface FromLabelSelectorOptions {
  /**
   * What an absent (undefined or null) selector object selects. Upstream `LabelSelectorAsSelector` and most API
   * fields (PDB, Service, affinity and topology-spread terms) say "nothing", the default; pass "everything" for the
   * few fields documented otherwise.
   */
  readonly absent?: "nothing" | "everything"
}

/** Labels as an object carries them. */
export type Labels = Readonly<Record<string, string>>

/** Selects every object, also those without labels (the parse of ""). */
export const everything: Selector = { _tag: "Requirements", requirements: [] }

/** Selects no object (upstream `labels.Nothing()`). */
export const nothing: Selector = { _tag: "Nothing" }

/** True when the selector has no requirements, so it selects every object. */
export const isEverything = (selector: Selector): boolean =>
  selector._tag === "Requirements" && selector.requirements.length === 0

/** True for {@link nothing}. */
export const isNothing = (selector: Selector): boolean => selector._tag === "Nothing"

// -- Validation (apimachinery util/validation) --------------------------------------------------------------------

const qualifiedNameMaxLength = 63
const labelValueMaxLength = 63
const dns1123SubdomainMaxLength = 253
const qualifiedNameRegex = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const labelValueRegex = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
const dns1123SubdomainRegex = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const qualifiedNameMessage =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"

/** Why `key` is not a valid label key (upstream `IsQualifiedName`); empty when it is. */
export const keyErrors = (key: string): ReadonlyArray<string> => {
  const errors: Array<string> = []
  const parts = key.split("/")
  if (parts.length > 2) {
    return [
      `a qualified name ${qualifiedNameMessage} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`
    ]
  }
  const name = parts.length === 2 ? parts[1]! : parts[0]!
  if (parts.length === 2) {
    const prefix = parts[0]!
    if (prefix.length === 0) errors.push("prefix part must be non-empty")
    else {
      if (prefix.length > dns1123SubdomainMaxLength) {
        errors.push(`prefix part must be no more than ${dns1123SubdomainMaxLength} characters`)
      }
      if (!dns1123SubdomainRegex.test(prefix)) {
        errors.push(
          "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', " +
            "and must start and end with an alphanumeric character"
        )
      }
    }
  }
  if (name.length === 0) errors.push("name part must be non-empty")
  else if (name.length > qualifiedNameMaxLength) {
    errors.push(`name part must be no more than ${qualifiedNameMaxLength} characters`)
  }
  if (!qualifiedNameRegex.test(name)) errors.push(`name part ${qualifiedNameMessage}`)
  return errors
}

/** Why `value` is not a valid label value (upstream `IsValidLabelValue`); empty when it is. */
export const valueErrors = (value: string): ReadonlyArray<string> => {
  const errors: Array<string> = []
  if (value.length > labelValueMaxLength) errors.push(`must be no more than ${labelValueMaxLength} characters`)
  if (!labelValueRegex.test(value)) {
    errors.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', " +
        "and must start and end with an alphanumeric character"
    )
  }
  return errors
}

// Go's strconv.ParseInt(s, 10, 64); BigInt keeps the full int64 range exact.
const int64Min = -(2n ** 63n)
const int64Max = 2n ** 63n - 1n
const parseInt64 = (text: string): bigint | undefined => {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined
  const value = BigInt(text)
  return value < int64Min || value > int64Max ? undefined : value
}

const invalid = (field: string, value: string, message: string): string =>
  `${field}: Invalid value: ${JSON.stringify(value)}: ${message}`

// Like field.ErrorList.ToAggregate().Error(): one message alone, several in brackets.
const aggregate = (messages: ReadonlyArray<string>): string =>
  messages.length === 1 ? messages[0]! : `[${messages.join(", ")}]`

const distinctSorted = (values: ReadonlyArray<string>): ReadonlyArray<string> =>
  [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))

/** One validated requirement (upstream `labels.NewRequirement`). */
export const requirement = (key: string, operator: Operator, values: ReadonlyArray<string>): RequirementResult => {
  const errors: Array<string> = []
  const badKey = keyErrors(key)
  if (badKey.length > 0) errors.push(invalid("key", key, badKey.join("; ")))
  const shown = `[]string{${values.map((value) => JSON.stringify(value)).join(", ")}}`
  switch (operator) {
    case "in":
    case "notin":
      if (values.length === 0) {
        errors.push(`values: Invalid value: ${shown}: for 'in', 'notin' operators, values set can't be empty`)
      }
      break
    case "=":
    case "==":
    case "!=":
      if (values.length !== 1) {
        errors.push(`values: Invalid value: ${shown}: exact-match compatibility requires one single value`)
      }
      break
    case "exists":
    case "!":
      if (values.length !== 0) {
        errors.push(`values: Invalid value: ${shown}: values set must be empty for exists and does not exist`)
      }
      break
    case "gt":
    case "lt":
      if (values.length !== 1) {
        errors.push(`values: Invalid value: ${shown}: for 'Gt', 'Lt' operators, exactly one value is required`)
      }
      values.forEach((value, index) => {
        if (parseInt64(value) === undefined) {
          errors.push(invalid(`values[${index}]`, value, "for 'Gt', 'Lt' operators, the value must be an integer"))
        }
      })
      break
    default:
      errors.push(`operator: Unsupported value: ${JSON.stringify(operator)}`)
  }
  values.forEach((value, index) => {
    const badValue = valueErrors(value)
    if (badValue.length > 0) errors.push(invalid(`values[${index}]`, value, badValue.join("; ")))
  })
  if (errors.length > 0) return { ok: false, message: aggregate(errors) }
  return { ok: true, requirement: { key, operator, values: distinctSorted(values) } }
}

// Requirements sorted by key, as upstream's `sort.Sort(ByKey)`; stable so equal keys keep their order.
const ofRequirements = (requirements: ReadonlyArray<Requirement>): Selector => ({
  _tag: "Requirements",
  requirements: [...requirements].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
})

/** The selector requiring each label to equal its value (upstream `SelectorFromValidatedSet`); `{}` → everything. */
export const fromLabels = (labels: Labels | undefined): Selector =>
  ofRequirements(Object.keys(labels ?? {}).map((key) => ({ key, operator: "=", values: [labels![key]!] })))

// -- The string syntax (lexer and parser of selector.go) -----------------------------------------------------------

type TokenType =
  | "error"
  | "end"
  | "closedPar"
  | "comma"
  | "doesNotExist"
  | "doubleEquals"
  | "equals"
  | "greaterThan"
  | "identifier"
  | "in"
  | "lessThan"
  | "notEquals"
  | "notIn"
  | "openPar"

interface Token {
  readonly type: TokenType
  readonly literal: string
}

const keywords: Readonly<Record<string, TokenType>> = {
  ")": "closedPar",
  ",": "comma",
  "!": "doesNotExist",
  "==": "doubleEquals",
  "=": "equals",
  ">": "greaterThan",
  in: "in",
  "<": "lessThan",
  "!=": "notEquals",
  notin: "notIn",
  "(": "openPar"
}

const isWhitespace = (ch: string): boolean => ch === " " || ch === "\t" || ch === "\r" || ch === "\n"
const isSpecialSymbol = (ch: string): boolean => "=!(),><".includes(ch)

const keywordOf = (text: string): TokenType | undefined => (Object.hasOwn(keywords, text) ? keywords[text] : undefined)

const lex = (text: string): ReadonlyArray<Token> => {
  const tokens: Array<Token> = []
  let pos = 0
  for (;;) {
    while (pos < text.length && isWhitespace(text[pos]!)) pos++
    if (pos >= text.length) {
      tokens.push({ type: "end", literal: "" })
      return tokens
    }
    if (isSpecialSymbol(text[pos]!)) {
      // The longest run of special symbols that is still an operator: "!=" is one token, "=!" two.
      let buffer = ""
      let last: Token | undefined
      while (pos < text.length && isSpecialSymbol(text[pos]!)) {
        const candidate = buffer + text[pos]
        const type = keywordOf(candidate)
        if (type !== undefined) {
          last = { type, literal: candidate }
          buffer = candidate
          pos++
        } else if (last !== undefined) break
        else {
          buffer = candidate
          pos++
        }
      }
      tokens.push(last ?? { type: "error", literal: `error expected: keyword found '${buffer}'` })
    } else {
      let buffer = ""
      while (pos < text.length && !isSpecialSymbol(text[pos]!) && !isWhitespace(text[pos]!)) buffer += text[pos++]
      tokens.push({ type: keywordOf(buffer) ?? "identifier", literal: buffer })
    }
  }
}

// Thrown inside the parser only and turned into a result at its boundary.
class ParseError {
  constructor(readonly message: string) {}
}

const binaryOperators = ["in", "notin", "=", "==", "!=", "gt", "lt"]

class Parser {
  private position = 0
  constructor(private readonly tokens: ReadonlyArray<Token>) {}

  // In a value position the keywords `in` and `notin` are plain identifiers (upstream's `Values` context).
  lookahead(values = true): Token {
    const token = this.tokens[Math.min(this.position, this.tokens.length - 1)]!
    return values && (token.type === "in" || token.type === "notIn") ? { ...token, type: "identifier" } : token
  }

  consume(values = true): Token {
    const token = this.lookahead(values)
    this.position++
    return token
  }

  parse(): ReadonlyArray<Requirement> {
    const requirements: Array<Requirement> = []
    for (;;) {
      const next = this.lookahead()
      switch (next.type) {
        case "identifier":
        case "doesNotExist": {
          try {
            requirements.push(this.parseRequirement())
          } catch (error) {
            if (error instanceof ParseError) throw new ParseError(`unable to parse requirement: ${error.message}`)
            throw error
          }
          const after = this.consume()
          if (after.type === "end") return requirements
          if (after.type !== "comma") throw new ParseError(`found '${after.literal}', expected: ',' or 'end of string'`)
          const following = this.lookahead()
          if (following.type !== "identifier" && following.type !== "doesNotExist") {
            throw new ParseError(`found '${following.literal}', expected: identifier after ','`)
          }
          break
        }
        case "end":
          return requirements
        default:
          throw new ParseError(`found '${next.literal}', expected: !, identifier, or 'end of string'`)
      }
    }
  }

  parseRequirement(): Requirement {
    let token = this.consume()
    let operator: Operator | undefined
    if (token.type === "doesNotExist") {
      operator = "!"
      token = this.consume()
    }
    if (token.type !== "identifier") throw new ParseError(`found '${token.literal}', expected: identifier`)
    const key = token.literal
    const badKey = keyErrors(key)
    if (badKey.length > 0) throw new ParseError(invalid("key", key, badKey.join("; ")))
    const next = this.lookahead().type
    if (next === "end" || next === "comma") operator ??= "exists"
    if (operator === "exists" || operator === "!") return build(key, operator, [])
    operator = this.parseOperator()
    const values = operator === "in" || operator === "notin" ? this.parseValues() : this.parseExactValue()
    return build(key, operator, values)
  }

  parseOperator(): Operator {
    const token = this.consume(false)
    switch (token.type) {
      case "in":
        return "in"
      case "equals":
        return "="
      case "doubleEquals":
        return "=="
      case "greaterThan":
        return "gt"
      case "lessThan":
        return "lt"
      case "notIn":
        return "notin"
      case "notEquals":
        return "!="
      default:
        throw new ParseError(`found '${token.literal}', expected: ${binaryOperators.join(", ")}`)
    }
  }

  parseValues(): ReadonlyArray<string> {
    const open = this.consume()
    if (open.type !== "openPar") throw new ParseError(`found '${open.literal}' expected: '('`)
    const first = this.lookahead()
    switch (first.type) {
      case "identifier":
      case "comma": {
        const values = this.parseIdentifiersList()
        const close = this.consume()
        if (close.type !== "closedPar") throw new ParseError(`found '${first.literal}', expected: ')'`)
        return values
      }
      case "closedPar":
        // "k in ()" means the single empty value.
        this.consume()
        return [""]
      default:
        throw new ParseError(`found '${first.literal}', expected: ',', ')' or identifier`)
    }
  }

  // Empty entries ("(,a)", "(a,,b)", "(a,)") are the empty value, as upstream.
  parseIdentifiersList(): ReadonlyArray<string> {
    const values = new Set<string>()
    for (;;) {
      const token = this.consume()
      if (token.type === "identifier") {
        values.add(token.literal)
        const next = this.lookahead()
        if (next.type === "comma") continue
        if (next.type === "closedPar") return [...values]
        throw new ParseError(`found '${next.literal}', expected: ',' or ')'`)
      }
      if (token.type === "comma") {
        if (values.size === 0) values.add("")
        const next = this.lookahead()
        if (next.type === "closedPar") {
          values.add("")
          return [...values]
        }
        if (next.type === "comma") {
          this.consume()
          values.add("")
        }
        continue
      }
      throw new ParseError(`found '${token.literal}', expected: ',', or identifier`)
    }
  }

  // "k=" (nothing before the next comma or the end) is the empty value.
  parseExactValue(): ReadonlyArray<string> {
    const next = this.lookahead()
    if (next.type === "end" || next.type === "comma") return [""]
    const token = this.consume()
    if (token.type === "identifier") return [token.literal]
    throw new ParseError(`found '${token.literal}', expected: identifier`)
  }
}

const build = (key: string, operator: Operator, values: ReadonlyArray<string>): Requirement => {
  const result = requirement(key, operator, values)
  if (!result.ok) throw new ParseError(result.message)
  return result.requirement
}

/**
 * Parses the string syntax (upstream `labels.Parse`): `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`,
 * `!k`, `k>n`, `k<n`, comma-separated and ANDed; whitespace between tokens is ignored and "" selects everything.
 */
export const parse = (text: string): Result => {
  try {
    return { ok: true, selector: ofRequirements(new Parser(lex(text)).parse()) }
  } catch (error) {
    if (error instanceof ParseError) return { ok: false, message: error.message }
    throw error
  }
}

// -- The object form (metav1.LabelSelector) ----------------------------------------------------------------------

const objectOperators: Readonly<Record<string, Operator>> = {
  In: "in",
  NotIn: "notin",
  Exists: "exists",
  DoesNotExist: "!"
}

/**
 * The selector of a `metav1.LabelSelector` (upstream `LabelSelectorAsSelector`): `matchLabels` as equalities,
 * `matchExpressions` with In, NotIn, Exists and DoesNotExist. An empty object (`{}`) selects everything; an absent
 * one selects {@link nothing} unless `options.absent` says "everything" — the field's API documentation decides.
 */
export const fromLabelSelector = (
  labelSelector: LabelSelectorInput | null | undefined,
  options?: FromLabelSelectorOptions
): Result => {
  if (labelSelector === undefined || labelSelector === null) {
    return { ok: true, selector: options?.absent === "everything" ? everything : nothing }
  }
  const requirements: Array<Requirement> = []
  const matchLabels = labelSelector.matchLabels ?? {}
  for (const key of Object.keys(matchLabels)) {
    const result = requirement(key, "=", [matchLabels[key]!])
    if (!result.ok) return result
    requirements.push(result.requirement)
  }
  for (const expression of labelSelector.matchExpressions ?? []) {
    const operator = Object.hasOwn(objectOperators, expression.operator)
      ? objectOperators[expression.operator]
      : undefined
    if (operator === undefined) {
      return { ok: false, message: `${JSON.stringify(expression.operator)} is not a valid label selector operator` }
    }
    const result = requirement(expression.key, operator, expression.values ?? [])
    if (!result.ok) return result
    requirements.push(result.requirement)
  }
  return { ok: true, selector: ofRequirements(requirements) }
}

/**
 * Whether a `metav1.LabelSelector` selects `labels`; an invalid selector selects nothing (what upstream controllers
 * do when `LabelSelectorAsSelector` fails). `options` as {@link fromLabelSelector}.
 */
export const matchesLabelSelector = (
  labelSelector: LabelSelectorInput | null | undefined,
  labels: Labels | undefined,
  options?: FromLabelSelectorOptions
): boolean => {
  const result = fromLabelSelector(labelSelector, options)
  return result.ok && matches(result.selector, labels)
}

// -- Matching and formatting -------------------------------------------------------------------------------------

/** Whether `labels` satisfy one requirement (upstream `Requirement.Matches`). */
export const matchesRequirement = (req: Requirement, labels: Labels | undefined): boolean => {
  const present = labels !== undefined && Object.hasOwn(labels, req.key)
  const value = present ? labels[req.key]! : undefined
  switch (req.operator) {
    case "=":
    case "==":
    case "in":
      return value !== undefined && req.values.includes(value)
    // A missing label differs from every value.
    case "!=":
    case "notin":
      return value === undefined || !req.values.includes(value)
    case "exists":
      return present
    case "!":
      return !present
    case "gt":
    case "lt": {
      // The label must exist and be an int64; otherwise the requirement fails rather than erroring.
      if (value === undefined || req.values.length !== 1) return false
      const actual = parseInt64(value)
      const bound = parseInt64(req.values[0]!)
      if (actual === undefined || bound === undefined) return false
      return req.operator === "gt" ? actual > bound : actual < bound
    }
  }
}

/** Whether the selector selects an object with `labels` (undefined labels are no labels). */
export const matches = (selector: Selector, labels: Labels | undefined): boolean => {
  if (selector._tag !== "Requirements") return false
  // A loop, not `every`: topology and watches match selectors millions of times a simulated day, and the closure was
  // 2% of its allocation.
  for (const req of selector.requirements) if (!matchesRequirement(req, labels)) return false
  return true
}

/** The string form of one requirement (upstream `Requirement.String`). */
export const formatRequirement = (req: Requirement): string => {
  switch (req.operator) {
    case "exists":
      return req.key
    case "!":
      return `!${req.key}`
    case "in":
    case "notin":
      return `${req.key} ${req.operator} (${distinctSorted(req.values).join(",")})`
    case "gt":
      return `${req.key}>${req.values[0] ?? ""}`
    case "lt":
      return `${req.key}<${req.values[0] ?? ""}`
    default:
      return `${req.key}${req.operator}${req.values[0] ?? ""}`
  }
}

/**
 * The canonical string form, requirements sorted by key, that {@link parse} reads back to an equal selector.
 * {@link nothing} formats as "" like upstream, which parses to *everything*: check {@link isNothing} before sending a
 * selector to a server.
 */
export const format = (selector: Selector): string =>
  selector._tag === "Nothing"
    ? ""
    : [...selector.requirements]
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        .map(formatRequirement)
        .join(",")
