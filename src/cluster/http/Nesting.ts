/**
 * How deep a request body nests, measured on its text before anything parses it (and, for YAML, once more on the
 * parsed value, which aliases can make deeper than the text). The YAML parser, the schemas, the patch functions and
 * `JSON.stringify` all recurse once per level: a hostile body nested a few thousand levels deep overflows the stack,
 * and a stack overflow can take the whole process down instead of failing one request. kube-apiserver's decoders
 * stop at 10000 levels; this server stops much earlier, at {@link maxDepth}, which its recursive code reaches with a
 * wide margin and which no Kubernetes object comes near (they nest a few dozen levels). Each measure is a single loop
 * that stops as soon as the limit is passed.
 */
import { CST, Lexer } from "yaml"

/** The deepest nesting of arrays and objects a request body may have. */
export const maxDepth = 256

/** How many arrays and objects of a JSON text are open at once at most (counting stops past `limit`). */
export const json = (text: string, limit = maxDepth): number => {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    if (inString) {
      // A backslash escapes the next character, a quote among them.
      if (code === 0x5c) index++
      else if (code === 0x22) inString = false
    } else if (code === 0x22) inString = true
    else if (code === 0x5b || code === 0x7b) {
      depth++
      if (depth > deepest) deepest = depth
      if (deepest > limit) return deepest
    } else if (code === 0x5d || code === 0x7d) depth--
  }
  return deepest
}

// Markers the lexer inserts that take no room in the text.
const zeroWidth = new Set([CST.BOM, CST.DOCUMENT, CST.FLOW_END, CST.SCALAR])

/**
 * An upper bound of the nesting of a YAML text as the parser builds it, from its tokens (the lexer is a loop; the
 * parser recurses). Aliases do not count: the parser shares the anchored value rather than building it again, and
 * {@link value} measures the result.
 *
 * A block collection starts at the column of its indicator (`-`, `?`, `:`) or left of it, and one column holds at
 * most two of them (a sequence may sit at its parent mapping's column), so block nesting at column c is at most
 * 2(c + 1). A flow collection adds one level per bracket, and one more for the single-pair mapping a `key: value`
 * inside brackets makes.
 */
export const yaml = (text: string, limit = maxDepth): number => {
  let column = 0
  let flow = 0
  // The block nesting around the outermost open bracket.
  let flowBase = 0
  let deepest = 0
  for (const token of new Lexer().lex(text)) {
    if (zeroWidth.has(token)) continue
    const type = CST.tokenType(token)
    let bound = 0
    if (type === "flow-seq-start" || type === "flow-map-start") {
      if (flow === 0) flowBase = 2 * (column + 1)
      flow++
      bound = flowBase + 2 * flow
    } else if (type === "flow-seq-end" || type === "flow-map-end") {
      flow = Math.max(0, flow - 1)
    } else if (type === "seq-item-ind" || type === "explicit-key-ind" || type === "map-value-ind") {
      bound = flow === 0 ? 2 * (column + 1) : flowBase + 2 * flow
    }
    if (bound > deepest) deepest = bound
    if (deepest > limit) return deepest
    const newline = token.lastIndexOf("\n")
    column = newline < 0 ? column + token.length : token.length - newline - 1
  }
  return deepest
}

/**
 * How deep a parsed value nests, counting arrays and objects; infinite when it contains itself. YAML aliases make a
 * value share parts (each measured once) and can make it circular (`&a [*a]`), which no later step could walk.
 */
export const value = (parsed: unknown, limit = maxDepth): number => {
  const measured = new Map<object, number>()
  const open = new Set<object>()
  // Each value is visited twice: to open it (its parts are measured first), then to measure it.
  const stack: Array<{ readonly node: object; readonly parts: ReadonlyArray<object> | undefined }> = []
  const visit = (node: unknown) => {
    if (typeof node === "object" && node !== null && !measured.has(node)) stack.push({ node, parts: undefined })
  }
  visit(parsed)
  while (stack.length > 0) {
    const { node, parts } = stack.pop()!
    if (parts === undefined) {
      if (measured.has(node)) continue
      if (open.has(node)) return Number.POSITIVE_INFINITY
      open.add(node)
      const children = Object.values(node).filter((part): part is object => typeof part === "object" && part !== null)
      stack.push({ node, parts: children })
      for (const child of children) {
        if (open.has(child)) return Number.POSITIVE_INFINITY
        visit(child)
      }
    } else {
      open.delete(node)
      let depth = 1
      for (const child of parts) depth = Math.max(depth, 1 + measured.get(child)!)
      if (depth > limit) return depth
      measured.set(node, depth)
    }
  }
  return typeof parsed === "object" && parsed !== null ? measured.get(parsed)! : 0
}
