//! The engine as a core wasm module with no imports: the ABI that the store host (wasmtime),
//! or any other wasm runtime, calls. The contract is documented in `docs/abi.md`; in short:
//!
//! - The host asks the module for buffers ([`omnirule_alloc`]), writes its inputs (bundle
//!   bytes, JSON texts, memory bytes) into them, passes them back as `(ptr, len)` pairs, and
//!   releases them with [`omnirule_free`].
//! - [`omnirule_load_bundle`] decodes and validates a bundle and keeps it in the instance.
//! - [`omnirule_track`] evaluates one event; [`omnirule_merge`] merges two memories;
//!   [`omnirule_memory_json`] renders a memory as JSON; [`omnirule_erase`] turns a memory
//!   into a tombstone (a deletion that later merges cannot undo); [`omnirule_trust_keys`]
//!   makes the instance accept only bundles signed by given keys.
//! - Every call returns a [status](Status). Its output (canonical decisions JSON, or an error
//!   as JSON) is read through [`omnirule_result_ptr`]/[`omnirule_result_len`], and the memory
//!   bytes it produced through [`omnirule_memory_ptr`]/[`omnirule_memory_len`], both valid
//!   until the next call.
//!
//! No `unsafe` operation is used. Buffers handed out by [`omnirule_alloc`] are `Vec<u8>`s
//! kept in a table inside the instance, keyed by their address: an input `(ptr, len)` is
//! looked up there and read as an ordinary slice of that vector, so a host that passes a
//! wrong pointer or length gets [`Status::BadPointer`], never undefined behaviour. The host
//! writes into a buffer between calls, while the module holds no borrow of it (exactly as any
//! foreign code writes into memory it was handed). The only lint exemption is for exporting
//! unmangled symbols (see [`exports`]).
//!
//! The functions are also plain Rust functions, so the crate's tests drive the ABI natively.

use omnirule_engine::bundle::Bundle;
use omnirule_engine::bundle::signature::TrustedKeys;
use omnirule_engine::host::track_in_place;
use omnirule_engine::input::{Document, Event, InputError, Profile};
use omnirule_engine::memory::Memory;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The ABI version reported by [`omnirule_abi_version`]; bumped on any incompatible change.
pub const ABI_VERSION: u32 = 3;

/// What a call returns. The result buffer holds an error JSON for every status but `Ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// Success: the result and memory buffers hold the outputs.
    Ok = 0,
    /// The profile or event is not valid JSON or does not fit the bundle's schema.
    BadInput = 1,
    /// No bundle is loaded (call [`omnirule_load_bundle`] first).
    NoBundle = 2,
    /// The bundle could not be decoded or validated; the previously loaded one is kept.
    BadBundle = 3,
    /// A memory could not be decoded.
    BadMemory = 4,
    /// A `(ptr, len)` pair does not lie inside a buffer from [`omnirule_alloc`].
    BadPointer = 5,
}

#[derive(Default)]
struct State {
    bundle: Option<Bundle>,
    /// Set by [`omnirule_trust_keys`]: bundles must be signed by one of these.
    trusted: Option<TrustedKeys>,
    /// Live buffers from `omnirule_alloc`, by address.
    buffers: BTreeMap<usize, Vec<u8>>,
    result: Vec<u8>,
    memory: Vec<u8>,
    /// Set by [`omnirule_set_place`]: where the events this instance evaluates are observed.
    place: (Option<String>, Option<String>),
}

thread_local! {
    // A wasm instance is single-threaded: this is the instance's state.
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// The bytes of `(ptr, len)` if they lie in a live buffer starting at `ptr`. A zero length is
/// always valid (and reads nothing), whatever the pointer.
fn input(buffers: &BTreeMap<usize, Vec<u8>>, ptr: usize, len: usize) -> Option<&[u8]> {
    if len == 0 {
        return Some(&[]);
    }
    buffers.get(&ptr).and_then(|b| b.get(..len))
}

/// `{"error":{"code":..,"message":..}}`, the error shape of every call.
fn error_json(code: &str, message: &str) -> Vec<u8> {
    serde_json::json!({"error": {"code": code, "message": message}})
        .to_string()
        .into_bytes()
}

fn input_error_code(e: &InputError) -> &'static str {
    match e {
        InputError::NotAnObject { .. } => "not_an_object",
        InputError::UnknownEventType { .. } => "unknown_event_type",
        InputError::MissingField { .. } => "missing_field",
        InputError::WrongType { .. } => "wrong_type",
        InputError::TooLong { .. } => "too_long",
        InputError::BadTime { .. } => "bad_time",
    }
}

fn fail(state: &mut State, status: Status, code: &str, message: &str) -> i32 {
    state.result = error_json(code, message);
    state.memory.clear();
    status as i32
}

fn bad_pointer(state: &mut State, what: &str) -> i32 {
    fail(
        state,
        Status::BadPointer,
        "bad_pointer",
        &bad_pointer_message(what),
    )
}

fn bad_pointer_message(what: &str) -> String {
    format!("the {what} buffer was not allocated with omnirule_alloc (or is too short)")
}

/// A memory from bytes (`OMNIMEM` magic), its JSON form, or empty.
fn decode_memory(bytes: &[u8]) -> Result<Memory, String> {
    if bytes.is_empty() {
        return Ok(Memory::default());
    }
    if bytes.starts_with(omnirule_engine::memory::MAGIC) {
        return Memory::from_bytes(bytes).map_err(|e| e.to_string());
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "the memory is neither memory bytes nor UTF-8 JSON".to_string())?;
    Memory::from_json(text).map_err(|e| e.to_string())
}

/// A profile or event's JSON text, parsed one level deep (see [`Document`]).
fn parse_json<'a>(bytes: &'a [u8], what: &str) -> Result<Document<'a>, String> {
    let not_json = |e: &dyn std::fmt::Display| format!("the {what} is not valid JSON: {e}");
    let text = std::str::from_utf8(bytes).map_err(|e| not_json(&e))?;
    Document::parse(text).map_err(|e| not_json(&e))
}

/// The ABI version ([`ABI_VERSION`]).
pub fn omnirule_abi_version() -> u32 {
    ABI_VERSION
}

/// A zeroed buffer of `len` bytes for the host to write into; returns its address. Returns 0
/// when `len` is 0 (nothing to write). Release it with [`omnirule_free`].
pub fn omnirule_alloc(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let mut buf = vec![0u8; len];
    let ptr = buf.as_mut_ptr() as usize;
    with_state(|s| s.buffers.insert(ptr, buf));
    ptr
}

/// Releases a buffer from [`omnirule_alloc`]. Unknown addresses (and 0) are ignored; `len`
/// is accepted for symmetry with other ABIs and not needed.
pub fn omnirule_free(ptr: usize, _len: usize) {
    with_state(|s| s.buffers.remove(&ptr));
}

/// Decodes a bundle (binary, or its JSON form) and makes it the instance's bundle. On error
/// the previous bundle stays loaded.
pub fn omnirule_load_bundle(ptr: usize, len: usize) -> i32 {
    with_state(|s| {
        let Some(bytes) = input(&s.buffers, ptr, len) else {
            return bad_pointer(s, "bundle");
        };
        let checked = Bundle::load(bytes, s.trusted.as_ref());
        match checked {
            Ok(bundle) => {
                let signer = bundle.signature().map(|sig| sig.key.to_string());
                // `splits`: each split's arms and shares, for the host's exposure log.
                s.result = serde_json::json!({
                    "hash": bundle.hash_hex(),
                    "signed_by": signer,
                    "splits": omnirule_engine::host::split_weights(&bundle),
                })
                .to_string()
                .into_bytes();
                s.memory.clear();
                s.bundle = Some(bundle);
                Status::Ok as i32
            }
            Err(e @ omnirule_engine::bundle::BundleError::Untrusted(_)) => {
                fail(s, Status::BadBundle, "untrusted_bundle", &e.to_string())
            }
            Err(e) => fail(s, Status::BadBundle, "bad_bundle", &e.to_string()),
        }
    })
}

/// Sets the public keys bundles must be signed by (text: `ed25519:<hex>` keys, see
/// `TrustedKeys::parse`); from then on [`omnirule_load_bundle`] refuses unsigned bundles and
/// bundles signed by other keys. An empty input trusts any bundle again. The loaded bundle is
/// not re-checked: hosts set keys before loading. Result: `{"keys": ["<key id>", ...]}`.
pub fn omnirule_trust_keys(ptr: usize, len: usize) -> i32 {
    with_state(|s| {
        let Some(bytes) = input(&s.buffers, ptr, len) else {
            return bad_pointer(s, "keys");
        };
        if bytes.is_empty() {
            s.trusted = None;
            s.result = b"{\"keys\":[]}".to_vec();
            s.memory.clear();
            return Status::Ok as i32;
        }
        let parsed = std::str::from_utf8(bytes)
            .map_err(|_| "the keys are not UTF-8 text".to_string())
            .and_then(|t| TrustedKeys::parse_checked(t).map_err(|e| e.to_string()));
        match parsed {
            Ok(keys) => {
                let ids: Vec<String> = keys.ids().map(|k| k.to_string()).collect();
                s.result = serde_json::json!({"keys": ids}).to_string().into_bytes();
                s.memory.clear();
                s.trusted = Some(keys);
                Status::Ok as i32
            }
            Err(m) => fail(s, Status::BadBundle, "bad_key", &m),
        }
    })
}

/// Says where the events this instance evaluates are observed: `{"channel": "store", "host":
/// "paris-01"}` (either may be null or absent; an empty input clears both). Exposures to rules
/// with goals record it, and conversions report it (see `docs/report.md`); no decision
/// depends on it. A host calls it once after instantiating (it may call it again).
pub fn omnirule_set_place(ptr: usize, len: usize) -> i32 {
    with_state(|s| {
        let Some(bytes) = input(&s.buffers, ptr, len) else {
            return bad_pointer(s, "place");
        };
        if bytes.is_empty() {
            s.place = (None, None);
            s.result.clear();
            return Status::Ok as i32;
        }
        let value: serde_json::Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(e) => return fail(s, Status::BadInput, "malformed_json", &e.to_string()),
        };
        let text = |key: &str| -> Result<Option<String>, String> {
            match value.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(t)) if t.len() <= 256 => Ok(Some(t.clone())),
                Some(_) => Err(format!(
                    "`{key}` must be a string of at most 256 bytes or null"
                )),
            }
        };
        match (value.is_object(), text("channel"), text("host")) {
            (true, Ok(channel), Ok(host)) => {
                s.place = (channel, host);
                s.result.clear();
                Status::Ok as i32
            }
            (false, _, _) => fail(
                s,
                Status::BadInput,
                "not_an_object",
                "the place must be an object",
            ),
            (_, Err(m), _) | (_, _, Err(m)) => fail(s, Status::BadInput, "wrong_type", &m),
        }
    })
}

/// Evaluates one event. Inputs: the profile and event as JSON texts, the customer's memory
/// (bytes, JSON, or empty for none) and `explain` (non-zero: add the explanation). On `Ok`
/// the result is the canonical output `{"decisions":[..]}` and the memory buffer the new
/// memory bytes; on error nothing is produced but the error JSON.
pub fn omnirule_track(
    profile_ptr: usize,
    profile_len: usize,
    event_ptr: usize,
    event_len: usize,
    memory_ptr: usize,
    memory_len: usize,
    explain: i32,
) -> i32 {
    with_state(|s| {
        // The inputs borrow the state's buffers: decide first, then write the outputs.
        let outcome = track_buffers(
            s,
            (profile_ptr, profile_len),
            (event_ptr, event_len),
            (memory_ptr, memory_len),
            explain != 0,
        );
        match outcome {
            Ok((result, memory)) => {
                s.result = result;
                s.memory = memory;
                Status::Ok as i32
            }
            Err((status, code, message)) => fail(s, status, code, &message),
        }
    })
}

/// A failed call: its status, error code and message.
type Failure = (Status, &'static str, String);

/// [`omnirule_track`] over the state's buffers: the canonical output and the new memory bytes.
fn track_buffers(
    s: &State,
    profile: (usize, usize),
    event: (usize, usize),
    memory: (usize, usize),
    explain: bool,
) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    let (Some(profile), Some(event), Some(memory)) = (
        input(&s.buffers, profile.0, profile.1),
        input(&s.buffers, event.0, event.1),
        input(&s.buffers, memory.0, memory.1),
    ) else {
        return Err((
            Status::BadPointer,
            "bad_pointer",
            bad_pointer_message("profile, event or memory"),
        ));
    };
    let profile = parse_json(profile, "profile");
    let event = parse_json(event, "event");
    let memory = decode_memory(memory);
    let Some(bundle) = s.bundle.as_ref() else {
        return Err((Status::NoBundle, "no_bundle", "no bundle is loaded".into()));
    };
    let (profile, event) = match (profile, event) {
        (Ok(p), Ok(e)) => (p, e),
        (Err(m), _) | (_, Err(m)) => return Err((Status::BadInput, "malformed_json", m)),
    };
    let mut memory = memory.map_err(|m| (Status::BadMemory, "bad_memory", m))?;
    let input_failure = |e: InputError| (Status::BadInput, input_error_code(&e), e.to_string());
    let profile = Profile::from_document(bundle, &profile).map_err(input_failure)?;
    let mut event = Event::from_document(bundle, &event).map_err(input_failure)?;
    event.set_place(s.place.0.as_deref(), s.place.1.as_deref());
    // The memory was decoded for this call: update it where it is rather than copy it.
    let decided = track_in_place(bundle, &mut memory, &profile, &event, explain);
    Ok((decided.to_json().into_bytes(), memory.to_bytes()))
}

/// Merges two memories (each bytes, JSON, or empty) under the loaded bundle's pruning. On
/// `Ok` the memory buffer holds the merged memory's bytes and the result `{"events":n}`.
pub fn omnirule_merge(a_ptr: usize, a_len: usize, b_ptr: usize, b_len: usize) -> i32 {
    with_state(|s| {
        let (Some(a), Some(b)) = (
            input(&s.buffers, a_ptr, a_len),
            input(&s.buffers, b_ptr, b_len),
        ) else {
            return bad_pointer(s, "memory");
        };
        let (a, b) = (decode_memory(a), decode_memory(b));
        let Some(bundle) = s.bundle.as_ref() else {
            return fail(s, Status::NoBundle, "no_bundle", "no bundle is loaded");
        };
        match (a, b) {
            (Ok(a), Ok(b)) => {
                let merged = a.merge(&b, bundle);
                s.result = serde_json::json!({"events": merged.event_count()})
                    .to_string()
                    .into_bytes();
                s.memory = merged.to_bytes();
                Status::Ok as i32
            }
            (Err(m), _) | (_, Err(m)) => fail(s, Status::BadMemory, "bad_memory", &m),
        }
    })
}

/// Erases a customer: the memory buffer gets a tombstone (`Memory::erase` at `at_ms`, the
/// host's clock, or later), the result `{"erased": <ms>, "had_data": bool}` (whether the
/// memory held anything). Needs no bundle, so a deletion works whatever state the host is in.
pub fn omnirule_erase(ptr: usize, len: usize, at_ms: i64) -> i32 {
    with_state(|s| {
        let Some(bytes) = input(&s.buffers, ptr, len) else {
            return bad_pointer(s, "memory");
        };
        let at_ms = at_ms.clamp(
            -omnirule_engine::value::MAX_TIME_MS,
            omnirule_engine::value::MAX_TIME_MS,
        );
        match decode_memory(bytes) {
            Ok(m) => {
                let tombstone = m.erase(at_ms);
                s.result = serde_json::json!({
                    "erased": tombstone.erased(),
                    "had_data": !m.is_empty(),
                })
                .to_string()
                .into_bytes();
                s.memory = tombstone.to_bytes();
                Status::Ok as i32
            }
            Err(m) => fail(s, Status::BadMemory, "bad_memory", &m),
        }
    })
}

/// Renders a memory (bytes, JSON, or empty) as its readable JSON form into the result
/// buffer; the memory buffer gets its bytes (normalised). Needs no bundle.
pub fn omnirule_memory_json(ptr: usize, len: usize) -> i32 {
    with_state(|s| {
        let Some(bytes) = input(&s.buffers, ptr, len) else {
            return bad_pointer(s, "memory");
        };
        match decode_memory(bytes) {
            Ok(m) => {
                s.result = m.to_json().into_bytes();
                s.memory = m.to_bytes();
                Status::Ok as i32
            }
            Err(m) => fail(s, Status::BadMemory, "bad_memory", &m),
        }
    })
}

/// The address of the last call's result (JSON text).
pub fn omnirule_result_ptr() -> usize {
    with_state(|s| s.result.as_ptr() as usize)
}

/// The length of the last call's result.
pub fn omnirule_result_len() -> usize {
    with_state(|s| s.result.len())
}

/// The address of the last call's memory bytes.
pub fn omnirule_memory_ptr() -> usize {
    with_state(|s| s.memory.as_ptr() as usize)
}

/// The length of the last call's memory bytes (0 when the call produced none).
pub fn omnirule_memory_len() -> usize {
    with_state(|s| s.memory.len())
}

/// Copies of the last outputs, for native callers (tests).
pub fn last_outputs() -> (Vec<u8>, Vec<u8>) {
    with_state(|s| (s.result.clone(), s.memory.clone()))
}

/// Writes `bytes` into a fresh buffer, for native callers (tests): `(ptr, len)`.
pub fn write_input(bytes: &[u8]) -> (usize, usize) {
    let ptr = omnirule_alloc(bytes.len());
    with_state(|s| {
        if let Some(buf) = s.buffers.get_mut(&ptr) {
            buf.copy_from_slice(bytes);
        }
    });
    (ptr, bytes.len())
}

/// The wasm exports: unmangled `extern "C"` wrappers over the functions above, with `usize`
/// (an `i32` on wasm32) for addresses and lengths.
///
/// `unsafe_code` is allowed here only because exporting a symbol under a fixed name
/// (`#[unsafe(no_mangle)]`) counts as unsafe: two symbols with one name would clash at link
/// time. These names are unique to this crate (`omnirule_` prefix). No unsafe operation is
/// performed.
#[cfg(target_family = "wasm")]
#[allow(unsafe_code)]
pub mod exports {
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_abi_version() -> u32 {
        super::omnirule_abi_version()
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_alloc(len: usize) -> usize {
        super::omnirule_alloc(len)
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_free(ptr: usize, len: usize) {
        super::omnirule_free(ptr, len)
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_load_bundle(ptr: usize, len: usize) -> i32 {
        super::omnirule_load_bundle(ptr, len)
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_track(
        profile_ptr: usize,
        profile_len: usize,
        event_ptr: usize,
        event_len: usize,
        memory_ptr: usize,
        memory_len: usize,
        explain: i32,
    ) -> i32 {
        super::omnirule_track(
            profile_ptr,
            profile_len,
            event_ptr,
            event_len,
            memory_ptr,
            memory_len,
            explain,
        )
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_merge(
        a_ptr: usize,
        a_len: usize,
        b_ptr: usize,
        b_len: usize,
    ) -> i32 {
        super::omnirule_merge(a_ptr, a_len, b_ptr, b_len)
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_memory_json(ptr: usize, len: usize) -> i32 {
        super::omnirule_memory_json(ptr, len)
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_trust_keys(ptr: usize, len: usize) -> i32 {
        super::omnirule_trust_keys(ptr, len)
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_set_place(ptr: usize, len: usize) -> i32 {
        super::omnirule_set_place(ptr, len)
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_erase(ptr: usize, len: usize, at_ms: i64) -> i32 {
        super::omnirule_erase(ptr, len, at_ms)
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_result_ptr() -> usize {
        super::omnirule_result_ptr()
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_result_len() -> usize {
        super::omnirule_result_len()
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_memory_ptr() -> usize {
        super::omnirule_memory_ptr()
    }
    #[unsafe(no_mangle)]
    pub extern "C" fn omnirule_memory_len() -> usize {
        super::omnirule_memory_len()
    }
}
