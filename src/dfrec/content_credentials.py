"""Content Credentials (C2PA): what a signed picture or video says about how it was made.

More and more pictures carry a signed C2PA manifest: image generators (OpenAI's, Adobe Firefly,
Microsoft Designer, Google's) and editors (Photoshop, Lightroom) write one, as do some cameras and
phones (Leica, Sony, Nikon, Google Pixel, Samsung Galaxy). It names the software that made the file
(``claim_generator``), what was done (``c2pa.created``, ``c2pa.edited`` ...) and, for a new picture,
its IPTC *digital source type*: ``trainedAlgorithmicMedia`` is a generative model's output,
``digitalCapture`` a camera's. The manifest is signed over the file's bytes, so an edit made after
signing shows as a hash mismatch.

:func:`read_content_credentials` reads and checks the manifest with the CAI's own library
(``c2pa-python``), offline: no remote manifest, no revocation check, and no trust list (dfrec
ships none), so a valid signature says the file is unchanged since someone signed it, not who that
someone is beyond the name in their certificate. Absence means nothing: most files carry none, and
any re-save or screenshot drops it.
"""

from __future__ import annotations

import json
import os
from typing import Any

#: IPTC digital source types (the last part of ``http://cv.iptc.org/newscodes/digitalsourcetype/…``)
#: -> what a report says of a picture that declares one.
SOURCE_TYPES = {
    "trainedAlgorithmicMedia": "made by a generative model",
    "compositeWithTrainedAlgorithmicMedia": "composited with parts made by a generative model",
    "algorithmicallyEnhanced": "enhanced by an algorithm",
    "algorithmicMedia": "made by an algorithm (not a trained model)",
    "compositeSynthetic": "composited from synthetic parts",
    "composite": "composited from several pictures",
    "digitalCapture": "recorded by a camera",
    "computationalCapture": "recorded by a camera with computational processing",
    "negativeFilm": "scanned from a negative",
    "positiveFilm": "scanned from a slide",
    "print": "scanned from a print",
    "humanEdits": "edited by a person",
    "minorHumanEdits": "lightly edited by a person",
    "digitalCreation": "drawn or made on a computer by a person",
    "screenCapture": "a screenshot",
    "virtualRecording": "recorded in a virtual environment",
    "dataDrivenMedia": "made from data",
}
#: The source types that declare a generative model's part in the picture.
GENERATED_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})
#: Settings of the C2PA library: nothing fetched over the network (a remote manifest, a
#: certificate's revocation status).
OFFLINE_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
#: Validation codes left out of ``problems``: the signer is not on a trust list (dfrec has none).
NOT_PROBLEMS = frozenset({"signingCredential.untrusted"})
#: What a note on a generated picture adds about the fake score.
FAKE_SCORE_SCOPE = ("dfrec's fake score looks for a face pasted into a picture, not for a picture generated whole: "
                    "a low score does not contradict this.")
#: At most this many problems listed, and actions.
MAX_LISTED = 8


def _source_type(url: str | None) -> str | None:
    return url.rstrip("/").rsplit("/", 1)[-1] if url else None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{"action", "source_type", "software_agent", "when"}, ...]`` of a manifest's actions assertions."""
    out = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for act in (assertion.get("data") or {}).get("actions") or []:
            agent = act.get("softwareAgent")
            agent = agent.get("name") if isinstance(agent, dict) else agent
            out.append({"action": act.get("action"), "source_type": _source_type(act.get("digitalSourceType")),
                        "software_agent": agent, "when": act.get("when")})
    return out[:MAX_LISTED]


def _generator(manifest: dict[str, Any]) -> str | None:
    """The software that wrote the manifest: ``claim_generator_info``'s first name and version, or
    the older ``claim_generator`` string."""
    info = manifest.get("claim_generator_info") or []
    if info and isinstance(info[0], dict) and info[0].get("name"):
        return f"{info[0]['name']} {info[0].get('version', '')}".strip()
    return manifest.get("claim_generator")


def read_content_credentials(path: str | os.PathLike) -> dict[str, Any] | None:
    """The C2PA manifest of the file at ``path``, checked: ``{"validation"`` (``"valid"``: signed
    and unchanged since, its signer not checked against any trust list; ``"invalid"``: the check
    failed; ``"unreadable"``: a manifest the library could not read), ``"problems"`` (the failed
    checks' codes and explanations, e.g. ``assertion.dataHash.mismatch``), ``"claim_generator"``,
    ``"title"``, ``"signer"`` (``issuer``, ``common_name``, ``time``), ``"actions"``, ``"source_type"``
    (the IPTC digital source type the first action that names one declares), ``"generated"``
    (whether that is a generative model's), ``"ingredients"``, ``"manifests"}``; ``None`` where the
    file carries none, or the C2PA library is not installed."""
    try:
        import c2pa
    except ImportError:
        return None
    if not os.path.isfile(path):
        return None
    try:
        context = c2pa.Context.from_dict(OFFLINE_SETTINGS)
        reader = c2pa.Reader.try_create(str(path), context=context)
        if reader is None:
            return None
        with reader:
            state = (reader.get_validation_state() or "").lower()
            results = reader.get_validation_results() or {}
            manifest = reader.get_active_manifest() or {}
            store = _json(reader.json())
    except (c2pa.C2paError.NotSupported, c2pa.C2paError.FileNotFound, OSError):
        return None  # a format the library does not read (it reads JPEG, PNG, WebP, HEIF, AVIF, TIFF, MP4, MOV ...)
    except (c2pa.C2paError, ValueError) as err:
        return {"validation": "unreadable", "problems": [str(err)[:300]], "claim_generator": None, "title": None,
                "signer": None, "actions": [], "source_type": None, "generated": False, "ingredients": 0,
                "manifests": 0}
    failures = [f for f in (results.get("activeManifest") or {}).get("failure") or []
                if f.get("code") not in NOT_PROBLEMS]
    actions = _actions(manifest)
    source = next((a["source_type"] for a in actions if a["source_type"]), None)
    sig = manifest.get("signature_info") or {}
    return {
        "validation": "valid" if state in ("valid", "trusted") and not failures else "invalid",
        "problems": [f"{f.get('code')}: {f.get('explanation', '')}".strip(": ") for f in failures][:MAX_LISTED],
        "claim_generator": _generator(manifest),
        "title": manifest.get("title"),
        "signer": {"issuer": sig.get("issuer"), "common_name": sig.get("common_name"), "time": sig.get("time")}
        if sig else None,
        "actions": actions,
        "source_type": source,
        "generated": source in GENERATED_SOURCE_TYPES,
        "ingredients": len(manifest.get("ingredients") or []),
        "manifests": len((store.get("manifests") or {})),
    }


def _json(text: str | None) -> dict[str, Any]:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {}


def credentials_words(cc: dict[str, Any], source: bool = True) -> str:
    """A report's sentence on a :func:`read_content_credentials` result (``source``: with the digital
    source type it declares)."""
    if cc.get("validation") == "unreadable":
        return f"a C2PA manifest the C2PA library could not read ({'; '.join(cc.get('problems') or [])})"
    signer = cc.get("signer") or {}
    who = signer.get("issuer") or signer.get("common_name") or "an unnamed signer"
    words = f"signed by {who}" + (f" on {signer['time']}" if signer.get("time") else "")
    if cc.get("claim_generator"):
        words += f", written by {cc['claim_generator']}"
    if source and cc.get("source_type"):
        words += (f"; it declares the picture {SOURCE_TYPES.get(cc['source_type'], cc['source_type'])} "
                  f"(IPTC digital source type {cc['source_type']})")
    acts = [a["action"] for a in cc.get("actions") or [] if a.get("action")]
    if acts:
        words += f"; actions: {', '.join(dict.fromkeys(acts))}"
    if cc.get("ingredients"):
        words += f"; made from {cc['ingredients']} earlier file{'s' if cc['ingredients'] != 1 else ''}"
    if cc.get("validation") == "valid":
        words += ("; the signature checks out: the file is unchanged since it was signed (the signer's certificate "
                  "was not checked against a trust list: dfrec has none)")
    else:
        words += ("; the check FAILED (" + "; ".join(cc.get("problems") or ["unknown"]) + "): the file was changed "
                  "after signing, or the credentials were copied from another file")
    return words


def credentials_note(cc: dict[str, Any] | None) -> str | None:
    """A report's note where a file's Content Credentials declare a generative model's part, or
    fail their check; ``None`` otherwise (none, or valid and declaring nothing of the kind)."""
    if not cc:
        return None
    if cc.get("validation") != "valid":
        return f"The file carries Content Credentials (C2PA): {credentials_words(cc)}."
    if cc.get("generated"):
        return (f"The file's Content Credentials (C2PA) declare that it was "
                f"{SOURCE_TYPES[cc['source_type']]} (IPTC digital source type {cc['source_type']}): "
                f"{credentials_words(cc, source=False)}. {FAKE_SCORE_SCOPE}")
    return None


#: The metadata entry (:func:`dfrec.io.image_header`'s ``metadata``) of the IPTC digital source type
#: a picture's XMP declares, unsigned (Google's, Meta's and other generators label their pictures so).
XMP_SOURCE_TYPE = "XMP DigitalSourceType"


def declared_source_note(metadata: dict[str, str] | None, credentials: dict[str, Any] | None) -> str | None:
    """A report's note where a picture's XMP metadata declares a generative model's part (IPTC
    digital source type) and its Content Credentials do not already say so; ``None`` otherwise."""
    source = (metadata or {}).get(XMP_SOURCE_TYPE)
    if source not in GENERATED_SOURCE_TYPES or (credentials and credentials.get("generated")):
        return None
    return (f"The file's XMP metadata declares that it was {SOURCE_TYPES[source]} (IPTC digital source type "
            f"{source}), as image generators label their pictures; the label is not signed: anyone can add or "
            f"remove it, and its absence says nothing. {FAKE_SCORE_SCOPE}")


#: PNG text keys (as :func:`dfrec.io.image_header`'s ``metadata`` keeps them) that image generators
#: write their settings under -> whose they are.
GENERATOR_TEXT_KEYS = {
    "parameters": "the Stable Diffusion web UIs (AUTOMATIC1111, Forge, SD.Next, Fooocus)",
    "workflow": "ComfyUI", "prompt": "ComfyUI",
    "invokeai_metadata": "InvokeAI", "invokeai_graph": "InvokeAI", "sd-metadata": "InvokeAI", "Dream": "InvokeAI",
    "fooocus_scheme": "Fooocus",
}


def generator_text_note(metadata: dict[str, str] | None) -> str | None:
    """A report's note where a picture's text chunks hold an image generator's settings (its prompt,
    model, sampler ...: :data:`GENERATOR_TEXT_KEYS`, or a ``Software`` of ``NovelAI``); ``None`` otherwise."""
    metadata = metadata or {}
    keys = [k for k in metadata if k in GENERATOR_TEXT_KEYS]
    tools = list(dict.fromkeys(GENERATOR_TEXT_KEYS[k] for k in keys))
    if str(metadata.get("Software", "")).startswith("NovelAI"):
        keys, tools = [*keys, "Software"], [*tools, "NovelAI"]
    if not keys:
        return None
    named = ", ".join(f"'{k}'" for k in keys)
    return (f"The file's text holds an image generator's settings ({named}, as {' and '.join(tools)} write them): "
            "the picture was generated, or edited (inpainted, a face replaced), by such a tool, or the text was "
            "copied into it. Anyone can add or remove such text; the metadata above shows its start.")
