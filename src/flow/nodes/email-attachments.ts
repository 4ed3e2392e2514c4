import { KilnError } from "../../errors.ts";
import { badParam, paramReader } from "./param-rules.ts";
import { openStore, readByRef, readRef } from "./storage-store.ts";

/** One attachment as written: inline content, or a storage reference read from `store`. */
export type AttachmentSpec = Readonly<Record<string, unknown>>;

/** An attachment ready to send. */
export interface Attachment {
  readonly filename: string;
  readonly content: Buffer;
  readonly contentType: string | undefined;
}

async function fromRef(spec: AttachmentSpec, index: number): Promise<Attachment> {
  const type = `email.send attachments[${index}]`;
  const ref = readRef(type, spec.ref);
  const store = await openStore(type, spec.store);
  try {
    const found = await readByRef(type, store, ref);
    const read = paramReader(type, spec);
    return {
      filename: read.string("filename") ?? ref.key.split("/").pop() ?? "attachment",
      content: found.body,
      contentType: read.string("content_type") ?? found.contentType ?? ref.content_type,
    };
  } finally {
    store.close();
  }
}

function inline(spec: AttachmentSpec, index: number): Attachment {
  const type = `email.send attachments[${index}]`;
  const read = paramReader(type, spec);
  const filename = read.requiredString("filename");
  const content = spec.content;
  const encoding = read.string("encoding") ?? "utf8";
  if (content === undefined || content === null) throw badParam(type, "content", "text, JSON or base64", content);
  const body =
    typeof content === "string"
      ? Buffer.from(content, encoding === "base64" ? "base64" : "utf8")
      : Buffer.from(JSON.stringify(content));
  return { filename, content: body, contentType: read.string("content_type") };
}

/**
 * The attachments of an email.send visit, read in order. Referenced objects are read inside the
 * node's step, so large files reach the SMTP server without passing through run history.
 */
export async function readAttachments(specs: readonly AttachmentSpec[]): Promise<Attachment[]> {
  const out: Attachment[] = [];
  for (const [index, spec] of specs.entries()) {
    if (spec === null || typeof spec !== "object") {
      throw new KilnError("INVALID_INPUT", `Expected attachments[${index}] of email.send to be a mapping`);
    }
    out.push(spec.ref === undefined ? inline(spec, index) : await fromRef(spec, index));
  }
  return out;
}
