/*
 * 信用数据链凭证核验 — an offline proof-bundle verifier that runs entirely in the browser.
 *
 * It mirrors citycredit.ledger.bundle.verify_bundle (Python) check for check and message for
 * message: format → suite → public key (pinned or the bundle's) → checkpoint signature
 * (C2SP signed note) → checkpoint text (C2SP tlog-checkpoint) → exactly one suite line, the
 * bundle's and the key's → origin (the key's name, then the bundle's) → tree size → leaf
 * hash → RFC 9162 §2.1.3.2 inclusion proof → disclosed field digests.
 *
 * Nothing is fetched: the bundle comes from a file picker or a text box, and every algorithm
 * runs here — SHA-256 and Ed25519 with WebCrypto (Ed25519 falls back to the vendored
 * tweetnacl where a browser lacks it), SM3 and SM2 with the vendored sm-crypto. The page also
 * works when saved and opened as a local file (classic scripts, no modules, no fetch).
 *
 * Plain ES2020, no build step, exports nothing: it attaches itself to #ledger-verify.
 */
(function () {
  "use strict";

  // ---- Python-compatible errors ------------------------------------------------------------
  // verify_bundle shows NoteError / ProofError / DisclosureMismatch / BundleError messages as
  // they are, and prefixes any other ValueError / KeyError / TypeError with "凭证格式错误：".

  class CheckFailed extends Error {} // raw message (BundleError and the ledger's own errors)
  class FormatProblem extends Error {} // "凭证格式错误：" + message
  class Unsupported extends Error {} // this browser cannot run the check (not a verdict)

  const BUNDLE_FORMAT = "citycredit-ledger-bundle/1";
  const EXPORT_ENTRY = "export.completed"; // ledger/bundle.py EXPORT_ENTRY
  const SUITES = ["sha256-ed25519", "sm3-sm2"];
  const SIG_PREFIX = "\u2014 "; // em dash, space
  const MAX_SIGNATURES = 100;
  const MAX_TREE_SIZE = (1n << 64n) - 1n;
  const MAX_SIZE = 1n << 63n;
  const ALG_ED25519 = 0x01;
  const ALG_EXTENDED = 0xff;
  const SM2_TYPE_ID = "citycredit.sm2-sm3.v1";
  const SM2_DEFAULT_UID = "1234567812345678";
  const REASON_FIELD = "__reason__";

  // ---- Python value model ------------------------------------------------------------------
  // JSON is parsed as Python's json.loads sees it: integers as BigInt (exact at any size),
  // floats kept with their literal (PyFloat), objects as Map (insertion order, last key wins).

  class PyFloat {
    constructor(text, value) {
      this.text = text;
      this.value = value;
    }
  }

  function pyType(v) {
    if (v === null || v === undefined) return "NoneType";
    if (typeof v === "boolean") return "bool";
    if (typeof v === "bigint") return "int";
    if (v instanceof PyFloat) return "float";
    if (typeof v === "string") return "str";
    if (Array.isArray(v)) return "list";
    if (v instanceof Map) return "dict";
    if (v instanceof Uint8Array) return "bytes";
    return typeof v;
  }

  const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

  function reprStr(s) {
    const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
    let out = quote;
    for (const ch of s) {
      const cp = ch.codePointAt(0);
      if (ch === "\\") out += "\\\\";
      else if (ch === quote) out += "\\" + quote;
      else if (ch === "\t") out += "\\t";
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (ch !== " " && NON_PRINTABLE.test(ch)) {
        if (cp < 0x100) out += "\\x" + cp.toString(16).padStart(2, "0");
        else if (cp < 0x10000) out += "\\u" + cp.toString(16).padStart(4, "0");
        else out += "\\U" + cp.toString(16).padStart(8, "0");
      } else out += ch;
    }
    return out + quote;
  }

  function pyRepr(v) {
    if (v === null || v === undefined) return "None";
    if (v === true) return "True";
    if (v === false) return "False";
    if (typeof v === "bigint") return v.toString();
    if (v instanceof PyFloat) return v.text;
    if (typeof v === "string") return reprStr(v);
    if (Array.isArray(v)) return "[" + v.map(pyRepr).join(", ") + "]";
    if (v instanceof Map) {
      return "{" + Array.from(v, ([k, x]) => pyRepr(k) + ": " + pyRepr(x)).join(", ") + "}";
    }
    return String(v);
  }

  function pyStr(v) {
    return typeof v === "string" ? v : pyRepr(v);
  }

  function truthy(v) {
    if (v === null || v === undefined || v === false) return false;
    if (typeof v === "bigint") return v !== 0n;
    if (v instanceof PyFloat) return v.value !== 0;
    if (typeof v === "string" || Array.isArray(v)) return v.length > 0;
    if (v instanceof Map) return v.size > 0;
    return true;
  }

  /** obj[key] with Python's KeyError / TypeError. */
  function item(obj, key) {
    if (obj instanceof Map) {
      if (!obj.has(key)) throw new FormatProblem(reprStr(key));
      return obj.get(key);
    }
    if (Array.isArray(obj)) {
      throw new FormatProblem("list indices must be integers or slices, not str");
    }
    if (typeof obj === "string") throw new FormatProblem("string indices must be integers, not 'str'");
    throw new FormatProblem(`'${pyType(obj)}' object is not subscriptable`);
  }

  /** obj.get(key) on a dict. */
  function dictGet(obj, key) {
    if (!(obj instanceof Map)) {
      throw new FormatProblem(`'${pyType(obj)}' object has no attribute 'get'`);
    }
    return obj.has(key) ? obj.get(key) : null;
  }

  /** Python int(v) for the values JSON can hold. */
  function pyInt(v) {
    if (typeof v === "bigint") return v;
    if (typeof v === "boolean") return v ? 1n : 0n;
    if (v instanceof PyFloat) {
      if (Number.isNaN(v.value)) throw new FormatProblem("cannot convert float NaN to integer");
      if (!Number.isFinite(v.value)) {
        throw new FormatProblem("cannot convert float infinity to integer");
      }
      return BigInt(Math.trunc(v.value));
    }
    if (typeof v === "string") {
      const t = v.replace(/^[\s\x1c-\x1f\x85]+|[\s\x1c-\x1f\x85]+$/gu, "");
      if (/^[+-]?[0-9]+(?:_[0-9]+)*$/.test(t)) return BigInt(t.replace(/_/g, ""));
      throw new FormatProblem(`invalid literal for int() with base 10: ${reprStr(v)}`);
    }
    throw new FormatProblem(
      `int() argument must be a string, a bytes-like object or a real number, not '${pyType(v)}'`
    );
  }

  function bitLength(n) {
    return n === 0n ? 0 : n.toString(2).length;
  }

  function bitCount(n) {
    let c = 0;
    for (const d of n.toString(2)) if (d === "1") c++;
    return c;
  }

  // ---- JSON exactly as Python's json.loads reads it --------------------------------------

  function parseJson(text) {
    let i = 0;
    const n = text.length;
    const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
    const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
    const fail = (what) => {
      throw new FormatProblem(`JSON 解析失败：${what}（位置 ${i}）`);
    };
    const ws = () => {
      while (i < n) {
        const c = text.charCodeAt(i);
        if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
        else break;
      }
    };
    const literal = (word, value) => {
      if (text.startsWith(word, i)) {
        i += word.length;
        return { value };
      }
      return null;
    };
    const string = () => {
      STRING.lastIndex = i;
      const m = STRING.exec(text);
      if (!m) fail("字符串无效");
      i += m[0].length;
      return JSON.parse(m[0]);
    };
    const value = (depth) => {
      if (depth > 500) fail("嵌套过深");
      ws();
      const c = text[i];
      if (c === "{") {
        i++;
        const obj = new Map();
        ws();
        if (text[i] === "}") {
          i++;
          return obj;
        }
        for (;;) {
          ws();
          if (text[i] !== '"') fail("应为带双引号的字段名");
          const key = string();
          ws();
          if (text[i] !== ":") fail("应为 ':'");
          i++;
          obj.set(key, value(depth + 1));
          ws();
          if (text[i] === ",") {
            i++;
            continue;
          }
          if (text[i] === "}") {
            i++;
            return obj;
          }
          fail("应为 ',' 或 '}'");
        }
      }
      if (c === "[") {
        i++;
        const arr = [];
        ws();
        if (text[i] === "]") {
          i++;
          return arr;
        }
        for (;;) {
          arr.push(value(depth + 1));
          ws();
          if (text[i] === ",") {
            i++;
            continue;
          }
          if (text[i] === "]") {
            i++;
            return arr;
          }
          fail("应为 ',' 或 ']'");
        }
      }
      if (c === '"') return string();
      const lit =
        literal("null", null) ||
        literal("true", true) ||
        literal("false", false) ||
        literal("NaN", new PyFloat("nan", NaN)) ||
        literal("Infinity", new PyFloat("inf", Infinity)) ||
        literal("-Infinity", new PyFloat("-inf", -Infinity));
      if (lit) return lit.value;
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (m) {
        i += m[0].length;
        if (m[1] === undefined && m[2] === undefined) return BigInt(m[0]);
        return new PyFloat(m[0], Number(m[0]));
      }
      return fail("应为 JSON 值");
    };
    const out = value(0);
    ws();
    if (i !== n) fail("多余的数据");
    return out;
  }

  // ---- bytes, text, base64, hex ---------------------------------------------------------

  const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

  /** str.encode() — UTF-8, refusing lone surrogates as Python does. */
  function utf8(s) {
    const m = LONE_SURROGATE.exec(s);
    if (m) {
      const pos = Array.from(s.slice(0, m.index)).length;
      const cp = m[0].charCodeAt(0).toString(16);
      throw new FormatProblem(
        `'utf-8' codec can't encode character '\\u${cp}' in position ${pos}: surrogates not allowed`
      );
    }
    return new TextEncoder().encode(s);
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    let d = 0;
    for (let k = 0; k < a.length; k++) d |= a[k] ^ b[k];
    return d === 0;
  }

  function toHex(b) {
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

  function b64encode(b) {
    let out = "";
    for (let k = 0; k < b.length; k += 3) {
      const x = (b[k] << 16) | ((b[k + 1] || 0) << 8) | (b[k + 2] || 0);
      out += B64[(x >> 18) & 63] + B64[(x >> 12) & 63];
      out += k + 1 < b.length ? B64[(x >> 6) & 63] : "=";
      out += k + 2 < b.length ? B64[x & 63] : "=";
    }
    return out;
  }

  /** base64.b64decode(s, validate=True) of CPython 3.11 (binascii strict mode), same errors. */
  function b64decode(s) {
    if (typeof s !== "string") {
      throw new FormatProblem(
        `argument should be a bytes-like object or ASCII string, not '${pyType(s)}'`
      );
    }
    if (/[^\x00-\x7f]/.test(s)) {
      throw new FormatProblem("string argument should contain only ASCII characters");
    }
    const out = [];
    let quad = 0;
    let pads = 0;
    let padding = false;
    let acc = 0;
    let bits = 0;
    let count = 0;
    for (let k = 0; k < s.length; k++) {
      const ch = s[k];
      if (ch === "=") {
        padding = true;
        if (k === 0) throw new FormatProblem("Leading padding not allowed");
        if (quad >= 2 && quad + ++pads >= 4) {
          if (k + 1 < s.length) throw new FormatProblem("Excess data after padding");
          return new Uint8Array(out);
        }
        continue;
      }
      const v = B64.indexOf(ch);
      if (v < 0) throw new FormatProblem("Only base64 data is allowed");
      if (padding) throw new FormatProblem("Discontinuous padding not allowed");
      pads = 0;
      count++;
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push((acc >> bits) & 0xff);
      }
      quad = (quad + 1) & 3;
    }
    if (quad !== 0) {
      if (quad === 1) {
        throw new FormatProblem(
          "Invalid base64-encoded string: number of data characters " +
            `(${count}) cannot be 1 more than a multiple of 4`
        );
      }
      throw new FormatProblem("Incorrect padding");
    }
    return new Uint8Array(out);
  }

  /** Strict, canonical base64 (RFC 4648 §4); throws `err(true)` if invalid, `err(false)` if not canonical. */
  function b64strict(s, err) {
    let raw;
    try {
      raw = b64decode(s);
    } catch (e) {
      if (e instanceof FormatProblem) throw err(true);
      throw e;
    }
    if (b64encode(raw) !== s) throw err(false);
    return raw;
  }

  /** bytes.fromhex(s), with Python's errors. */
  function fromHex(s) {
    if (typeof s !== "string") {
      throw new FormatProblem(`fromhex() argument must be str, not ${pyType(s)}`);
    }
    const chars = Array.from(s);
    const bad = (pos) =>
      new FormatProblem(`non-hexadecimal number found in fromhex() arg at position ${pos}`);
    const firstWide = chars.findIndex((c) => c.codePointAt(0) > 0x7f);
    if (firstWide >= 0) throw bad(firstWide);
    const hexval = (c) => (c !== undefined && /^[0-9a-fA-F]$/.test(c) ? parseInt(c, 16) : -1);
    const out = [];
    let k = 0;
    while (k < chars.length) {
      if (/^[ \t\n\r\x0b\x0c]$/.test(chars[k])) {
        while (k < chars.length && /^[ \t\n\r\x0b\x0c]$/.test(chars[k])) k++;
        if (k >= chars.length) break;
      }
      const top = hexval(chars[k]);
      if (top < 0) throw bad(k);
      const bot = hexval(chars[k + 1]);
      if (bot < 0) throw bad(k + 1);
      out.push((top << 4) | bot);
      k += 2;
    }
    return new Uint8Array(out);
  }

  // ---- canonical JSON bytes (citycredit.shared.canonical.canonical_bytes) -------------------

  function jsonString(s) {
    let out = '"';
    for (let k = 0; k < s.length; k++) {
      const ch = s[k];
      const c = s.charCodeAt(k);
      if (ch === '"') out += '\\"';
      else if (ch === "\\") out += "\\\\";
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (ch === "\t") out += "\\t";
      else if (ch === "\b") out += "\\b";
      else if (ch === "\f") out += "\\f";
      else if (c < 0x20) out += "\\u" + c.toString(16).padStart(4, "0");
      else out += ch;
    }
    return out + '"';
  }

  function codePointCompare(a, b) {
    const x = Array.from(a, (c) => c.codePointAt(0));
    const y = Array.from(b, (c) => c.codePointAt(0));
    for (let k = 0; k < Math.min(x.length, y.length); k++) {
      if (x[k] !== y[k]) return x[k] - y[k];
    }
    return x.length - y.length;
  }

  /** json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":")). */
  function canonicalText(v, code) {
    if (v === null) return "null";
    if (v === true) return "true";
    if (v === false) return "false";
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "string") return jsonString(v);
    if (Array.isArray(v)) return "[" + v.map((x) => canonicalText(x, code)).join(",") + "]";
    if (v instanceof Map) {
      const keys = Array.from(v.keys()).sort(codePointCompare);
      return "{" + keys.map((k) => jsonString(k) + ":" + canonicalText(v.get(k), code)).join(",") + "}";
    }
    if (v instanceof PyFloat) {
      throw new Unsupported(
        `字段 ${code} 的公开值含有小数（浮点数 ${v.text}），浏览器无法保证与服务器完全相同地规范化，` +
          "本页面不予判定；请用命令行 citycredit ledger verify-bundle 核验"
      );
    }
    throw new FormatProblem(`Object of type ${pyType(v)} is not JSON serializable`);
  }

  function canonicalBytes(v, code) {
    return utf8(canonicalText(v, code));
  }

  // ---- hashes and signatures ---------------------------------------------------------------

  function subtle() {
    const c = typeof crypto !== "undefined" ? crypto : null;
    if (!c || !c.subtle) {
      throw new Unsupported(
        "此浏览器环境不提供 WebCrypto（SHA-256）：请通过 HTTPS 访问本页，或将本页保存后作为本地文件打开"
      );
    }
    return c.subtle;
  }

  async function sha256(data) {
    return new Uint8Array(await subtle().digest("SHA-256", data));
  }

  function sm3lib() {
    if (typeof window.sm3 !== "function" || typeof window.sm2 !== "object") {
      throw new Unsupported("SM3/SM2 组件（sm-crypto）未能加载，无法核验国密套件的凭证");
    }
    return window.sm3;
  }

  async function sm3(data) {
    return fromHex(sm3lib()(Array.from(data)));
  }

  const HASHES = {
    "sha256-ed25519": { name: "sha256", size: 32, hash: sha256 },
    "sm3-sm2": { name: "sm3", size: 32, hash: sm3 },
  };

  let ed25519Engine = null; // which implementation verified Ed25519 on this page

  async function ed25519Verify(pub, msg, sig) {
    if (sig.length !== 64) return false;
    let key = null;
    try {
      key = await subtle().importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      if (e instanceof Unsupported || (e && e.name === "NotSupportedError")) key = null;
      else return false; // a key WebCrypto refuses verifies nothing
    }
    if (key) {
      ed25519Engine = "WebCrypto";
      try {
        return await subtle().verify({ name: "Ed25519" }, key, sig, msg);
      } catch (e) {
        return false;
      }
    }
    if (!window.nacl || !window.nacl.sign) {
      throw new Unsupported("此浏览器不支持 Ed25519 验签，且 tweetnacl 组件未能加载");
    }
    ed25519Engine = "tweetnacl";
    return window.nacl.sign.detached.verify(msg, sig, pub);
  }

  function sm2Verify(pub, msg, sig) {
    if (sig.length !== 64) return false;
    sm3lib();
    try {
      return window.sm2.doVerifySignature(msg, toHex(sig), toHex(pub), {
        hash: true,
        der: false,
        userId: SM2_DEFAULT_UID,
      });
    } catch (e) {
      return false;
    }
  }

  // ---- signed-note keys (citycredit.ledger.signers) ----------------------------------------

  const PY_SPACE = /^[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;

  function validKeyName(name) {
    if (typeof name !== "string" || name === "" || name.includes("+")) return false;
    for (const ch of name) {
      const cp = ch.codePointAt(0);
      if (PY_SPACE.test(ch) || cp < 0x20 || cp === 0x7f) return false;
    }
    return true;
  }

  function keyError(msg) {
    return new FormatProblem(msg); // KeyFormatError is a ValueError: shown as 凭证格式错误
  }

  async function keyId(name, alg, material) {
    const digest = await sha256(concat(utf8(name), Uint8Array.of(0x0a, alg), material));
    return digest.slice(0, 4);
  }

  function pySplit(s, sep, maxsplit) {
    const parts = [];
    let rest = s;
    for (let k = 0; k < maxsplit; k++) {
      const j = rest.indexOf(sep);
      if (j < 0) break;
      parts.push(rest.slice(0, j));
      rest = rest.slice(j + sep.length);
    }
    parts.push(rest);
    return parts;
  }

  /** verifier_from_vkey: "<name>+<hex key id>+<base64(type || public key)>". */
  async function verifierFromVkey(vkey) {
    if (typeof vkey !== "string") {
      throw new FormatProblem(`'${pyType(vkey)}' object has no attribute 'split'`);
    }
    const parts = pySplit(vkey, "+", 2);
    if (parts.length !== 3) throw keyError("验证密钥格式错误 / malformed verifier key");
    const [name, hexId, b64] = parts;
    if (!validKeyName(name)) throw keyError(`密钥名称不合法 / invalid key name ${reprStr(name)}`);
    if (!/^[0-9a-f]{8}$/.test(hexId)) {
      throw keyError("密钥ID须为8位小写十六进制 / key id must be 8 lowercase hex digits");
    }
    const payload = b64strict(b64, (invalid) =>
      keyError(invalid ? "base64 无效 / invalid base64" : "base64 不规范 / non-canonical base64")
    );
    if (payload.length === 0) throw keyError("密钥为空 / empty key");
    const alg = payload[0];
    const rest = payload.slice(1);
    const typeId = new TextEncoder().encode(SM2_TYPE_ID);
    let v;
    if (alg === ALG_ED25519) {
      if (rest.length !== 32) {
        throw keyError("Ed25519 公钥须为32字节 / Ed25519 public key must be 32 bytes");
      }
      v = { name, alg, scheme: "Ed25519", publicKey: rest, material: rest };
      v.verify = (msg, sig) => ed25519Verify(v.publicKey, msg, sig);
    } else if (alg === ALG_EXTENDED && equalBytes(rest.slice(0, typeId.length), typeId)) {
      const pub = rest.slice(typeId.length);
      sm3lib();
      if (pub.length !== 65 || pub[0] !== 0x04 || !window.sm2.verifyPublicKey(toHex(pub))) {
        throw keyError("SM2 公钥无效 / SM2 public key must be a 65-byte point 04||X||Y");
      }
      v = { name, alg, scheme: "SM2", publicKey: pub, material: concat(typeId, pub) };
      v.verify = async (msg, sig) => sm2Verify(v.publicKey, msg, sig);
    } else {
      throw keyError(`未知签名类型 / unknown signature type 0x${alg.toString(16).padStart(2, "0")}`);
    }
    v.keyId = await keyId(name, alg, v.material);
    if (toHex(v.keyId) !== hexId) throw keyError("密钥ID与公钥不符 / key id does not match the key");
    return v;
  }

  function verifierToVkey(v) {
    return `${v.name}+${toHex(v.keyId)}+${b64encode(concat(Uint8Array.of(v.alg), v.material))}`;
  }

  // ---- signed notes and checkpoints (citycredit.ledger.note) -------------------------------

  function checkChars(text, what) {
    if (typeof text !== "string") throw new CheckFailed(`${what} 须为字符串 / ${what} must be a str`);
    if (/[\x00-\x09\x0b-\x1f]/.test(text)) {
      throw new CheckFailed(
        `${what} 含控制字符 / ${what} contains a control character (CR, tab …)`
      );
    }
    if (LONE_SURROGATE.test(text)) {
      throw new CheckFailed(`${what} 不是合法UTF-8 / ${what} is not valid UTF-8`);
    }
  }

  function noteB64(text, what) {
    return b64strict(text, (invalid) =>
      new CheckFailed(
        invalid ? `${what} 不是base64 / ${what} is not base64` : `${what} 的base64不规范 / ${what} is not canonical base64`
      )
    );
  }

  async function openNote(note, verifier) {
    checkChars(note, "note");
    const split = note.lastIndexOf("\n\n");
    if (split < 0) throw new CheckFailed("缺少签名前的空行 / missing blank line before the signatures");
    const text = note.slice(0, split + 1);
    const sigs = note.slice(split + 2);
    if (!sigs.endsWith("\n")) {
      throw new CheckFailed("签名块须以换行结尾 / signature block must end with a newline");
    }
    const msg = utf8(text);
    const seen = new Set();
    const verified = [];
    const lines = sigs.slice(0, -1).split("\n");
    if (lines.length > MAX_SIGNATURES) {
      throw new CheckFailed(`签名过多 / more than ${MAX_SIGNATURES} signatures`);
    }
    for (const line of lines) {
      const rest = line.startsWith(SIG_PREFIX) ? line.slice(SIG_PREFIX.length) : line;
      const sp = rest.indexOf(" ");
      const name = sp < 0 ? rest : rest.slice(0, sp);
      const blob = sp < 0 ? "" : rest.slice(sp + 1);
      if (!line.startsWith(SIG_PREFIX) || sp < 0 || !validKeyName(name)) {
        const head = Array.from(line).slice(0, 40).join("");
        throw new CheckFailed(`签名行格式错误 / malformed signature line ${reprStr(head)}`);
      }
      const raw = noteB64(blob, "signature");
      if (raw.length < 5) throw new CheckFailed("签名过短 / signature too short");
      const kid = raw.slice(0, 4);
      const sig = raw.slice(4);
      const tag = name + "+" + toHex(kid);
      if (name !== verifier.name || !equalBytes(kid, verifier.keyId) || seen.has(tag)) continue;
      seen.add(tag);
      if (!(await verifier.verify(msg, sig))) {
        throw new CheckFailed(`签名无效 / invalid signature for key ${name}+${toHex(kid)}`);
      }
      verified.push(name);
    }
    if (verified.length === 0) {
      throw new CheckFailed("没有已知密钥的签名 / note has no signature from a known key");
    }
    return { text, verified };
  }

  function parseCheckpoint(text) {
    checkChars(text, "checkpoint");
    if (!text.endsWith("\n")) throw new CheckFailed("检查点须以换行结尾 / checkpoint text must end with a newline");
    const lines = text.slice(0, -1).split("\n");
    if (lines.length < 3 || lines.some((l) => l === "")) {
      throw new CheckFailed("检查点须为至少三行非空行 / checkpoint needs three or more non-empty lines");
    }
    const [origin, sizeText, rootText, ...extensions] = lines;
    if (!/^(?:0|[1-9][0-9]*)$/.test(sizeText)) {
      throw new CheckFailed(
        `树大小不是规范十进制 / tree size ${reprStr(sizeText)} is not canonical decimal`
      );
    }
    const size = BigInt(sizeText);
    if (size > MAX_TREE_SIZE) throw new CheckFailed("树大小超出uint64 / tree size exceeds uint64");
    const root = noteB64(rootText, "root hash");
    const found = extensions.filter((e) => e.startsWith("suite ")).map((e) => e.slice(6));
    let suite = null;
    if (found.length > 1) {
      throw new CheckFailed("检查点含多个套件行 / checkpoint names more than one suite");
    }
    if (found.length === 1) {
      if (!SUITES.includes(found[0])) {
        throw new CheckFailed(`未知套件 / unknown suite ${reprStr(found[0])}`);
      }
      suite = found[0];
    }
    if (root.length !== 32) {
      throw new CheckFailed(`根哈希长度错误 / root hash has ${root.length} bytes, want 32`);
    }
    return { origin, size, root, suite, extensions };
  }

  // ---- RFC 9162 §2.1.3.2 inclusion (citycredit.ledger.merkle.verify_inclusion) -------------

  function checkSize(value, what) {
    if (!(value >= 0n && value < MAX_SIZE)) {
      throw new CheckFailed(`${what} 超出范围 / ${what} ${value} out of range`);
    }
  }

  async function verifyInclusion(h, leafHash, index, size, proof, root) {
    checkSize(index, "index");
    checkSize(size, "size");
    if (index >= size) {
      throw new CheckFailed(`叶序号不小于树大小 / leaf index ${index} is not below size ${size}`);
    }
    for (const [value, what] of [
      [leafHash, "leaf hash"],
      [root, "root"],
      ...proof.map((p) => [p, "proof element"]),
    ]) {
      if (value.length !== h.size) {
        throw new CheckFailed(`${what} 长度错误 / ${what} is not a ${h.size}-byte ${h.name} hash`);
      }
    }
    const inner = bitLength(index ^ (size - 1n));
    const want = inner + bitCount(index >> BigInt(inner));
    if (proof.length !== want) {
      throw new CheckFailed(
        `包含证明长度错误 / inclusion proof has ${proof.length} hashes, want ${want}`
      );
    }
    let fn = index;
    let sn = size - 1n;
    let r = leafHash;
    for (const p of proof) {
      if (sn === 0n) throw new CheckFailed("包含证明过长 / inclusion proof too long");
      if (fn & 1n || fn === sn) {
        r = await h.hash(concat(Uint8Array.of(1), p, r));
        while (!(fn & 1n) && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        r = await h.hash(concat(Uint8Array.of(1), r, p));
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) throw new CheckFailed("包含证明过短 / inclusion proof too short");
    if (!equalBytes(r, root)) {
      throw new CheckFailed("包含证明与根不符 / inclusion proof does not lead to the root");
    }
  }

  // ---- disclosed fields (citycredit.ledger.entries.check_disclosed) ------------------------

  function loadLeaf(data) {
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(data);
    } catch (e) {
      throw new FormatProblem("'utf-8' codec can't decode the leaf data: invalid UTF-8");
    }
    return parseJson(text);
  }

  function iterItems(obj) {
    if (!(obj instanceof Map)) {
      throw new FormatProblem(`'${pyType(obj)}' object has no attribute 'items'`);
    }
    return Array.from(obj.entries());
  }

  async function checkDisclosed(h, data, disclosed) {
    const digests = item(loadLeaf(data), "fields");
    for (const [code, d] of iterItems(disclosed)) {
      const want = dictGet(digests, code);
      const salt = fromHex(item(d, "salt"));
      const got = toHex(await h.hash(concat(salt, canonicalBytes(item(d, "value"), code))));
      if (typeof want !== "string" || got !== want) {
        throw new CheckFailed(`字段 ${code} 的公开值与数据链叶子中的摘要不符`);
      }
    }
  }

  // Leaves about a document, the key its bundle carries it under, its name (ledger/bundle.py).
  const DOCUMENT_LEAVES = [
    ["report.issued", "report", "信用报告内容"],
    ["export.completed", "manifest", "导出清单"],
  ];

  async function checkReport(h, report, disclosed, ref) {
    const no = dictGet(report, "report_no");
    if (ref !== `${pyStr(no)}/issued`) {
      throw new CheckFailed(`报告编号 ${pyStr(no)} 与叶子所指的 ${ref} 不一致`);
    }
    const givenNo = dictGet(disclosed, "report_no");
    if ((truthy(givenNo) ? dictGet(givenNo, "value") : null) !== no) {
      throw new CheckFailed("凭证没有公开报告编号，或公开的编号与报告不一致");
    }
    const givenHash = dictGet(disclosed, "content_hash");
    const committed = truthy(givenHash) ? dictGet(givenHash, "value") : null;
    if (committed === null) throw new CheckFailed("凭证没有公开报告内容摘要");
    const actual = toHex(await h.hash(canonicalBytes(report, "report")));
    if (actual !== committed) {
      throw new CheckFailed(
        "报告内容与数据链中登记的摘要不一致" +
          `（内容摘要 ${actual.slice(0, 16)}…，登记 ${pyStr(committed).slice(0, 16)}…）`
      );
    }
    return `报告 ${pyStr(no)} 的内容与数据链中登记的摘要一致（未被改动）`;
  }

  /** Python's == for the JSON values of a bundle (floats are refused by canonicalText). */
  function jsonEqual(a, b, code) {
    return canonicalText(a, code) === canonicalText(b, code);
  }

  async function checkExport(h, manifest, disclosed, ref, entryType) {
    // ledger/bundle.py _check_export: the manifest is the one the export.completed leaf commits to
    if (!(manifest instanceof Map)) throw new CheckFailed("凭证中的清单（manifest）不是 JSON 对象");
    const exportId = dictGet(manifest, "export_id");
    if (entryType !== EXPORT_ENTRY || ref !== `${pyStr(exportId)}/completed`) {
      throw new CheckFailed(`清单所属的导出批次 ${pyStr(exportId)} 与叶子所指的 ${ref} 不一致`);
    }
    const givenId = dictGet(disclosed, "export_id");
    if ((truthy(givenId) ? dictGet(givenId, "value") : null) !== exportId) {
      throw new CheckFailed("凭证没有公开导出批次编号，或公开的编号与清单不一致");
    }
    const givenHash = dictGet(disclosed, "manifest_hash");
    const committed = truthy(givenHash) ? dictGet(givenHash, "value") : null;
    if (committed === null) throw new CheckFailed("凭证没有公开清单摘要");
    const actual = toHex(await h.hash(canonicalBytes(manifest, "manifest")));
    if (actual !== committed) {
      throw new CheckFailed(
        `导出批次 ${pyStr(exportId)} 的清单与数据链中登记的摘要不一致` +
          `（清单摘要 ${actual.slice(0, 16)}…，登记 ${pyStr(committed).slice(0, 16)}…）`
      );
    }
    const givenPeriod = dictGet(manifest, "period");
    const period = truthy(givenPeriod) ? givenPeriod : new Map();
    const facts = {
      kind: dictGet(manifest, "kind"),
      since: dictGet(period, "since"),
      until: dictGet(period, "until"),
      counts: dictGet(manifest, "counts"),
    };
    for (const name of ["kind", "since", "until", "counts"]) {
      if (disclosed.has(name) && !jsonEqual(dictGet(disclosed.get(name), "value"), facts[name], name)) {
        throw new CheckFailed(`清单中的 ${name} 与数据链中登记的不一致`);
      }
    }
    return `导出批次 ${pyStr(exportId)} 的清单与数据链中登记的摘要一致（未被改动）`;
  }

  function iterate(v) {
    if (Array.isArray(v)) return v;
    if (typeof v === "string") return Array.from(v);
    if (v instanceof Map) return Array.from(v.keys());
    throw new FormatProblem(`'${pyType(v)}' object is not iterable`);
  }

  // ---- verify_bundle -------------------------------------------------------------------------

  /**
   * Verify a parsed bundle; `trusted` is the pinned vkey or null.
   * Returns {ok, checks, error, kind, report}: checks are the passed steps in order.
   */
  async function verifyBundle(bundle, trusted) {
    const checks = [];
    const ctx = {};
    try {
      if (!(bundle instanceof Map)) throw new FormatProblem("凭证不是 JSON 对象");
      const format = dictGet(bundle, "format");
      if (format !== BUNDLE_FORMAT) {
        throw new CheckFailed(`不是数据链凭证（format=${pyRepr(format)}）`);
      }
      const suite = item(bundle, "suite");
      if (!SUITES.includes(suite)) throw new FormatProblem(`${pyRepr(suite)} is not a valid Suite`);
      ctx.suite = suite;
      const h = HASHES[suite];
      const vkey = trusted || item(bundle, "vkey");
      const verifier = await verifierFromVkey(vkey);
      ctx.vkey = verifierToVkey(verifier);
      if (trusted) {
        const own = await verifierFromVkey(item(bundle, "vkey"));
        if (verifierToVkey(verifier) !== verifierToVkey(own)) {
          throw new CheckFailed("凭证中的公钥与您信任的数据链公钥不一致");
        }
      }
      const opened = await openNote(item(bundle, "checkpoint"), verifier);
      checks.push(`检查点签名有效（${opened.verified.join(", ")}）`);
      const cp = parseCheckpoint(opened.text); // more than one suite line: refused there
      if (cp.suite === null) {
        throw new CheckFailed("检查点没有算法套件行（suite …），不能确定其算法套件");
      }
      if (cp.suite !== suite) {
        throw new CheckFailed(`检查点的算法套件 ${cp.suite} 与凭证声明的 ${suite} 不一致`);
      }
      const keySuite = verifier.alg === ALG_ED25519 ? "sha256-ed25519" : "sm3-sm2";
      if (keySuite !== suite) {
        throw new CheckFailed(`公钥类型与凭证声明的算法套件 ${suite} 不一致`);
      }
      Object.assign(ctx, { origin: cp.origin, size: cp.size, rootHex: toHex(cp.root) });
      if (cp.origin !== verifier.name) {
        // the origin is the log key's name: another log's checkpoint under the same key fails
        throw new CheckFailed(`检查点来源 ${cp.origin} 与数据链公钥的名称 ${verifier.name} 不一致`);
      }
      const origin = item(bundle, "origin");
      if (cp.origin !== origin) {
        throw new CheckFailed(`检查点来源 ${cp.origin} 与凭证声明的 ${pyStr(origin)} 不一致`);
      }
      const proof = item(bundle, "proof");
      const proofSize = item(proof, "size");
      if (pyInt(proofSize) !== cp.size) {
        throw new CheckFailed(`证明的树大小 ${pyStr(proofSize)} 与检查点的 ${cp.size} 不一致`);
      }
      const leaf = item(bundle, "leaf");
      const data = b64decode(item(leaf, "data"));
      const lh = await h.hash(concat(Uint8Array.of(0), data));
      const claimed = dictGet(leaf, "hash");
      if (truthy(claimed) && !equalBytes(fromHex(claimed), lh)) {
        throw new CheckFailed("叶子数据与叶子哈希不一致");
      }
      const index = pyInt(item(leaf, "index"));
      const hashes = iterate(item(proof, "hashes")).map(b64decode);
      await verifyInclusion(h, lh, index, cp.size, hashes, cp.root);
      ctx.index = index;
      checks.push(`第 ${index} 号叶子包含在大小为 ${cp.size} 的树中（包含证明有效）`);
      const givenDisclosed = dictGet(bundle, "disclosed");
      const disclosed = truthy(givenDisclosed) ? givenDisclosed : new Map();
      await checkDisclosed(h, data, disclosed);
      checks.push(`公开的 ${disclosed.size} 个字段值与叶子中的摘要一致`);
      const leafDoc = loadLeaf(data);
      const ref = item(leafDoc, "ref");
      // a leaf about a document needs the document (ledger/bundle.py DOCUMENT_LEAVES)
      for (const [entryType, key, what] of DOCUMENT_LEAVES) {
        if (dictGet(leafDoc, "type") === entryType && !bundle.has(key)) {
          throw new CheckFailed(`凭证缺少${what}（${key}）：数据链叶子记录的是${what}的摘要，无法核验`);
        }
      }
      if (bundle.has("report")) {
        // a credit report's bundle: the report itself must match (ledger/bundle.py _check_report)
        checks.push(await checkReport(h, bundle.get("report"), disclosed, ref));
      }
      if (bundle.has("manifest")) {
        // a 双公示 export's bundle: its manifest must match (ledger/bundle.py _check_export)
        checks.push(await checkExport(h, bundle.get("manifest"), disclosed, ref, item(leafDoc, "type")));
      }
      const report = Object.assign(ctx, {
        ref,
        leaf: leafDoc,
        disclosed: Array.from(disclosed, ([k, v]) => [k, item(v, "value")]),
        keyPinned: Boolean(trusted),
        record: bundle.get("record"),
      });
      return { ok: true, checks, report };
    } catch (e) {
      let error;
      let kind = "fail";
      if (e instanceof CheckFailed) error = e.message;
      else if (e instanceof Unsupported) {
        error = e.message;
        kind = "unsupported";
      } else if (e instanceof FormatProblem) error = "凭证格式错误：" + e.message;
      else error = "凭证格式错误：" + (e && e.message ? e.message : String(e));
      return { ok: false, checks, error, kind, report: ctx };
    }
  }

  // ---- page --------------------------------------------------------------------------------

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function shown(v) {
    if (v === null || v === undefined) return "—";
    if (Array.isArray(v)) return v.map(shown).join("、");
    if (v instanceof Map) return canonicalText(v, "");
    if (v instanceof PyFloat) return v.text;
    return String(v);
  }

  function labelsFromPage() {
    const node = document.getElementById("field-labels");
    try {
      return node ? JSON.parse(node.textContent) : {};
    } catch (e) {
      return {};
    }
  }

  const KINDS = { original: "原始记录", correction: "更正", withdrawal: "撤销" };

  function attach() {
    const root = document.getElementById("ledger-verify");
    if (!root) return;
    const fileInput = document.getElementById("bundle-file");
    const textArea = document.getElementById("bundle-text");
    const trustedInput = document.getElementById("trusted-vkey");
    const button = document.getElementById("verify-btn");
    const result = document.getElementById("verify-result");
    const labels = labelsFromPage();

    fileInput.addEventListener("change", () => {
      const file = fileInput.files && fileInput.files[0];
      if (!file) return;
      const reader = new FileReader();
      reader.onload = () => {
        textArea.value = String(reader.result);
        run();
      };
      reader.onerror = () => render({ ok: false, checks: [], error: "无法读取所选文件", kind: "fail" });
      reader.readAsText(file, "utf-8");
    });
    button.addEventListener("click", () => run());

    async function run() {
      button.disabled = true;
      result.hidden = false;
      result.setAttribute("data-status", "running");
      result.replaceChildren(el("p", { class: "meta" }, "正在核验……"));
      let outcome;
      let text = textArea.value;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a BOM from Windows editors
      if (!text.trim()) {
        outcome = { ok: false, checks: [], error: "请先选择凭证文件或粘贴凭证内容", kind: "fail" };
      } else {
        let bundle;
        try {
          bundle = parseJson(text);
        } catch (e) {
          bundle = e;
        }
        const pinned = trustedInput.value.trim() || null;
        outcome =
          bundle instanceof Error
            ? { ok: false, checks: [], error: "凭证格式错误：" + bundle.message, kind: "fail" }
            : await verifyBundle(bundle, pinned);
      }
      render(outcome);
      button.disabled = false;
    }

    function fieldLabel(item, code) {
      if (code === REASON_FIELD) return "撤销原因";
      const it = labels[item];
      return it && it.fields && it.fields[code] ? it.fields[code] : "";
    }

    function render(o) {
      result.replaceChildren();
      result.hidden = false;
      result.setAttribute("data-status", o.ok ? "ok" : o.kind === "unsupported" ? "unsupported" : "fail");
      const verdict = o.ok
        ? "✓ 凭证核验通过"
        : o.kind === "unsupported"
          ? "⚠ 无法在本浏览器中完成核验"
          : "✗ 凭证核验未通过";
      result.appendChild(el("h2", { class: o.ok ? "verdict ok" : "verdict fail" }, verdict));
      const list = el("ul", { id: "verify-checks", class: "checks" });
      for (const c of o.checks) list.appendChild(el("li", { class: "check ok" }, "✓ " + c));
      if (!o.ok) list.appendChild(el("li", { class: "check fail" }, "✗ " + o.error));
      result.appendChild(list);
      const r = o.report || {};
      if (o.ok && !r.keyPinned) {
        result.appendChild(
          el(
            "p",
            { class: "warn", id: "verify-unpinned" },
            "⚠ 您未填写信任的公钥：以上只证明凭证由凭证内附带的公钥签名。请将下方公钥与信用办在官方渠道公布的公钥逐字比对，或填入公布的公钥后重新核验。"
          )
        );
      }
      const dl = el("dl", { id: "verify-facts" });
      const fact = (label, value, id) => {
        if (value === undefined || value === null) return;
        dl.appendChild(el("dt", {}, label));
        dl.appendChild(el("dd", id ? { id } : {}, String(value)));
      };
      fact("数据链来源", r.origin, "fact-origin");
      fact("算法套件", r.suite, "fact-suite");
      fact("树大小", r.size, "fact-size");
      fact("根哈希", r.rootHex, "fact-root");
      fact("叶子序号", r.index, "fact-index");
      fact("记录版本", r.ref, "fact-ref");
      if (r.leaf instanceof Map) {
        const leafItem = r.leaf.get("item");
        const itemName = labels[leafItem] ? labels[leafItem].name : null;
        fact("信息项", itemName ? `${itemName}（${leafItem}）` : leafItem);
        const kind = r.leaf.get("kind");
        fact("版本类型", KINDS[kind] ? `${KINDS[kind]}（${kind}）` : kind);
        fact("版本时间", r.leaf.get("at"));
      }
      if (r.vkey) {
        fact(r.keyPinned ? "公钥（您信任的）" : "公钥（凭证附带）", r.vkey, "fact-vkey");
      }
      if (r.suite === "sha256-ed25519" && ed25519Engine) {
        fact("Ed25519 实现", ed25519Engine === "WebCrypto" ? "浏览器内置 WebCrypto" : "tweetnacl（本页附带）", "fact-engine");
      }
      if (dl.childElementCount) result.appendChild(dl);
      if (o.ok) {
        result.appendChild(el("h3", {}, `公开的字段（${r.disclosed.length} 个，已核验）`));
        const table = el("table", { class: "q", id: "verify-disclosed" });
        const head = el("tr");
        for (const t of ["字段", "代码", "值"]) head.appendChild(el("th", {}, t));
        table.appendChild(head);
        const leafItem = r.leaf.get("item");
        for (const [code, value] of r.disclosed) {
          const tr = el("tr", { "data-code": code });
          tr.appendChild(el("td", {}, fieldLabel(leafItem, code)));
          tr.appendChild(el("td", {}, code));
          tr.appendChild(el("td", { class: "value" }, shown(value)));
          table.appendChild(tr);
        }
        result.appendChild(table);
      }
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", attach);
  else attach();
})();
