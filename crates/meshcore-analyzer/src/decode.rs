//! `meshcore-analyzer decode`: frames as hex in, one JSON object per frame out.
//!
//! This is the tool operators use to look at a frame by hand, so a rejected frame is an
//! answer (`{"hash": ..., "error": ...}`), not a failure: the exit code is 0 unless the
//! arguments themselves are unusable.

use std::io::{BufRead, Write};

use anyhow::Context;
use meshcore_wire::{Decoder, packet_hash_hex};
use serde_json::Value;

use crate::UsageError;

/// Arguments of `decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// A channel key to try on channel messages, as NAME=HEX (32 hex digits). Repeatable.
    #[arg(long = "channel-key", value_name = "NAME=HEX")]
    channel_keys: Vec<String>,
    /// A hashtag channel whose key is derived from its name (e.g. '#test'). Repeatable.
    #[arg(long = "hashtag", value_name = "#NAME")]
    hashtags: Vec<String>,
    /// Do not try the bundled list of common hashtag channels.
    #[arg(long)]
    no_bundled_hashtags: bool,
    /// Do not verify advert signatures.
    #[arg(long)]
    no_verify: bool,
    /// Print each object indented over several lines.
    #[arg(long)]
    pretty: bool,
    /// Frames as hex. When none are given, one frame per line is read from stdin.
    #[arg(value_name = "HEX")]
    frames: Vec<String>,
}

/// Runs the command, writing to stdout.
pub fn run(args: &DecodeArgs) -> anyhow::Result<()> {
    let decoder = build_decoder(args)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.frames.is_empty() {
        for line in std::io::stdin().lock().lines() {
            let line = line.context("reading stdin")?;
            let frame = line.trim();
            if frame.is_empty() {
                continue;
            }
            write_frame(&mut out, &decoder, frame, args.pretty)?;
        }
    } else {
        for frame in &args.frames {
            write_frame(&mut out, &decoder, frame.trim(), args.pretty)?;
        }
    }
    out.flush().context("writing stdout")?;
    Ok(())
}

fn build_decoder(args: &DecodeArgs) -> anyhow::Result<Decoder> {
    let mut builder = Decoder::builder().validate_signatures(!args.no_verify);
    if !args.no_bundled_hashtags {
        builder = builder.bundled_hashtags();
    }
    for name in &args.hashtags {
        builder = builder.hashtag(name);
    }
    for spec in &args.channel_keys {
        let (name, key) = spec.split_once('=').ok_or_else(|| {
            UsageError(format!(
                "--channel-key {spec:?}: expected NAME=HEX (32 hex digits)"
            ))
        })?;
        builder = builder
            .channel_key_hex(name.trim(), key.trim())
            .map_err(|e| UsageError(format!("--channel-key {name:?}: {e}")))?;
    }
    Ok(builder.build())
}

/// The JSON object printed for one frame.
pub fn frame_json(decoder: &Decoder, frame: &str) -> Value {
    let hash = packet_hash_hex(frame).to_string();
    match decoder.decode_hex(frame) {
        Ok(packet) => {
            let decoded: Value = serde_json::from_str(&packet.to_json())
                .unwrap_or_else(|e| Value::String(format!("unrenderable decode: {e}")));
            serde_json::json!({ "hash": hash, "decoded": decoded })
        }
        Err(error) => serde_json::json!({ "hash": hash, "error": error.to_string() }),
    }
}

fn write_frame(
    out: &mut impl Write,
    decoder: &Decoder,
    frame: &str,
    pretty: bool,
) -> anyhow::Result<()> {
    let value = frame_json(decoder, frame);
    let text = if pretty {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    }
    .context("rendering JSON")?;
    writeln!(out, "{text}").context("writing stdout")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V50_ADVERT: &str = "11451000D818206D3AAC152C8A91F89957E6D30CA51F36E28790228971C473B755F244F718754CF5EE4A2FD58D944466E42CDED140C66D0CC590183E32BAF40F112BE8F3F2BDF6012B4B2793C52F1D36F69EE054D9A05593286F78453E56C0EC4A3EB95DDA2A7543FCCC00B939CACC009278603902FC12BCF84B706120526F6F6620536F6C6172";

    #[test]
    fn a_good_frame_prints_hash_and_decoded_object() {
        let value = frame_json(&Decoder::new(), V50_ADVERT);
        assert_eq!(value["hash"], "4df1ec064da2ac27");
        let decoded = &value["decoded"];
        assert_eq!(decoded["header"]["payloadTypeName"], "ADVERT");
        assert_eq!(decoded["path"]["hops"][0], "1000");
        assert_eq!(decoded["payload"]["name"], "Kpa Roof Solar");
        assert_eq!(decoded["payload"]["signatureValid"], true);
        assert!(value.get("error").is_none());
    }

    #[test]
    fn a_rejected_frame_prints_hash_and_error() {
        let value = frame_json(&Decoder::new(), "12F6AAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(value["hash"], "12F6AAAAAAAAAAAA");
        assert!(
            value["error"]
                .as_str()
                .expect("error")
                .starts_with("invalid path encoding")
        );
        assert!(value.get("decoded").is_none());
    }

    #[test]
    fn a_bad_channel_key_is_a_usage_error() {
        let args = DecodeArgs {
            channel_keys: vec!["Ops=zz".into()],
            hashtags: vec![],
            no_bundled_hashtags: false,
            no_verify: false,
            pretty: false,
            frames: vec![],
        };
        let error = build_decoder(&args).expect_err("bad key");
        assert!(error.downcast_ref::<UsageError>().is_some());
        let args = DecodeArgs {
            channel_keys: vec!["no-equals-sign".into()],
            ..args
        };
        assert!(
            build_decoder(&args)
                .expect_err("bad spec")
                .to_string()
                .contains("NAME=HEX")
        );
    }
}
