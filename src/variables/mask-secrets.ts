// Owns hiding secret variables in build output, the way GitHub Actions does: every secret
// value, each line of a multi-line one, and their base64 and URL-encoded forms become `***`
// before the output is stored, streamed or reported. The output arrives in chunks, so the
// masker holds back the last (longest form - 1) characters until it has seen what follows
// them: a secret split across two chunks is still hidden. Values shorter than
// `minimumSecretLength` are left alone; hiding them would garble ordinary output.
export const secretMask = "***";
export const minimumSecretLength = 4;

export type SecretMasker = {
  /** The part of the output so far that is safe to show: masked, without the held-back end. */
  push(chunk: string): string;
  /** The held-back end, masked; call it when the output is over. */
  flush(): string;
};

type Span = { start: number; end: number };

export function createSecretMasker(secrets: Iterable<string>): SecretMasker {
  const forms = [...new Set([...secrets].flatMap(maskedForms))];
  const holdBack = Math.max(0, ...forms.map((form) => form.length - 1));
  // Not yet shown; its first `shown` characters are already covered by a mask that was shown.
  let pending = "";
  let shown = 0;

  const release = (text: string, keep: number): string => {
    const safeEnd = text.length - keep;
    if (safeEnd <= shown) {
      pending = text;
      return "";
    }
    let out = "";
    let position = shown;
    for (const span of findSpans(text, forms, shown)) {
      if (span.start >= safeEnd) break;
      out += text.slice(position, Math.max(position, span.start));
      // A span that starts in the covered part continues a mask already shown.
      if (span.start >= shown) out += secretMask;
      position = span.end;
    }
    if (position < safeEnd) out += text.slice(position, safeEnd);
    pending = text.slice(safeEnd);
    shown = Math.max(0, position - safeEnd);
    return out;
  };

  return {
    push: (chunk) => (forms.length === 0 ? chunk : release(pending + chunk, holdBack)),
    flush: () => {
      const out = release(pending, 0);
      pending = "";
      shown = 0;
      return out;
    },
  };
}

/** What a value looks like in output: itself, its lines, base64 and URL-encoded. */
function maskedForms(value: string): string[] {
  const values = [value, ...value.split(/\r?\n/).map((line) => line.trim())].filter((v) => v.length >= minimumSecretLength);
  const forms = values.flatMap((v) => [v, encodeURIComponent(v), ...base64Forms(v)]);
  return forms.filter((form) => form.length >= minimumSecretLength);
}

/**
 * Base64 of the value on its own (with padding), and the characters that stay the same
 * whatever bytes come before and after it inside a longer base64 text, at each of the
 * three byte offsets it can start at (`user:secret` encoded whole, say).
 */
function base64Forms(value: string): string[] {
  const bytes = Buffer.from(value, "utf8");
  const forms = [bytes.toString("base64")];
  for (const shift of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString("base64").replace(/=+$/, "");
    const total = shift + bytes.length;
    // A character made partly of bits of the neighbouring bytes is not the secret's alone.
    const fromStart = [0, 2, 3][shift]!;
    const fromEnd = total % 3 === 0 ? 0 : 1;
    forms.push(encoded.slice(fromStart, encoded.length - fromEnd));
  }
  return forms;
}

/** Every place a form occurs, overlapping or adjacent ones merged, in order; `[0, covered)` counts as one. */
function findSpans(text: string, forms: readonly string[], covered: number): Span[] {
  const spans: Span[] = covered > 0 ? [{ start: 0, end: covered }] : [];
  for (const form of forms) {
    for (let at = text.indexOf(form); at !== -1; at = text.indexOf(form, at + 1)) spans.push({ start: at, end: at + form.length });
  }
  spans.sort((a, b) => a.start - b.start);
  const merged: Span[] = [];
  for (const span of spans) {
    const last = merged[merged.length - 1];
    if (last && span.start <= last.end) last.end = Math.max(last.end, span.end);
    else merged.push({ ...span });
  }
  return merged;
}
