"""MPEG transport streams (``.ts``, ``.m2ts``, ``.mts``): where a video's coded pictures sit, read
without decoding.

Broadcast recordings, HLS segments (as ``yt-dlp`` and screen recorders save a stream), AVCHD
camcorders and Blu-ray discs carry H.264 or HEVC in 188-byte transport packets (ISO/IEC 13818-1),
or 192-byte ones whose first 4 bytes are a timestamp (BDAV "M2TS"). The program association table
(PID 0) names each program's map, the program map names each stream's PID and ``stream_type``
(0x1B H.264, 0x24 HEVC), and a stream's packets carry its PES packets, one coded picture (access
unit) each as FFmpeg's and broadcast muxers write them. Inside, the picture is an Annex B byte
stream: NAL units behind ``00 00 01`` start codes, the parameter sets in band at every key frame.

:func:`ts_streams` reads the program tables; :func:`ts_video_track` finds the first video stream
(the one FFmpeg and OpenCV decode), if it is of the given types, and where each of its PES packets starts (one vectorised pass over the file,
8 MiB at a time); :func:`access_unit` gathers
the first bytes of one of them and :func:`annexb_nals` splits them into NAL units, for
:func:`dfrec.h264.read_encoding` to read their headers as it reads an MP4's samples.
"""

from __future__ import annotations

from typing import BinaryIO, Iterator

import numpy as np

#: Transport packet size (bytes after the sync byte included) and the whole packet sizes in files:
#: plain (188), BDAV M2TS with a 4-byte timestamp ahead of each (192), and with 16 bytes of
#: Reed-Solomon parity after each (204).
TS_PACKET = 188
PACKET_SIZES = (188, 192, 204)
SYNC = 0x47
#: ``stream_type`` numbers of video streams (MPEG-1/2, MPEG-4 Part 2, H.264 and its SVC/MVC layers,
#: HEVC, VVC, AVS, Dirac, VC-1 as SMPTE registers it); the others carry sound, subtitles or data.
VIDEO_STREAM_TYPES = frozenset({0x01, 0x02, 0x10, 0x1B, 0x1F, 0x20, 0x24, 0x33, 0x42, 0xD1, 0xEA})
#: Packets in a row that must start with the sync byte before a layout is believed.
SYNCS_NEEDED = 8
#: Packets read per block of the whole-file scan (~8 MiB).
SCAN_PACKETS = 43_690
#: How far into a file the program tables are looked for.
MAX_TABLE_SEARCH = 64 << 20
#: Bytes of a coded picture gathered: its parameter sets, SEI and first slice header fit many
#: times over (a slice header is read from its first 1 KiB).
AU_BYTES = 64 << 10
#: Packets read at a time while gathering one (other streams' packets come between its own).
AU_PACKETS = 512


def packet_layout(head: bytes, starts: range | None = None) -> tuple[int, int] | None:
    """``(offset of the first sync byte, packet size)`` of a transport stream from its first bytes
    (``None`` when they are not one): :data:`SYNCS_NEEDED` sync bytes a packet apart (fewer where
    the bytes hold fewer packets, but at least 3). ``starts``: the offsets tried (default: any within
    the first packet, for a file cut mid-packet; a sniffer of whole files passes ``range(5)``)."""
    for start in starts if starts is not None else range(min(len(head), max(PACKET_SIZES))):
        for size in PACKET_SIZES:
            n = min(SYNCS_NEEDED, (len(head) - start - 1) // size + 1)
            if n >= 3 and all(head[start + k * size] == SYNC for k in range(n)):
                return start, size
    return None


def _payload(packet: bytes) -> bytes:
    """The payload of one 188-byte transport packet (after its header and adaptation field)."""
    control = (packet[3] >> 4) & 3
    if control == 1:
        return packet[4:]
    if control == 3:
        return packet[5 + packet[4]:]
    return b""  # adaptation field only, or reserved


def _section(packet: bytes) -> bytes:
    """The PSI section that starts in a packet (pointer field skipped), cut to its stated length."""
    data = _payload(packet)
    if not data:
        return b""
    data = data[1 + data[0]:]
    if len(data) < 3:
        return b""
    length = ((data[1] & 0x0F) << 8) | data[2]
    return data[:3 + length]


def _pat(section: bytes) -> list[int]:
    """The PIDs of the program maps a program association section names (table 0; program 0 is the
    network information table, not a program)."""
    if len(section) < 8 or section[0] != 0x00:
        return []
    entries = section[8:len(section) - 4]  # the CRC closes the section
    return [((entries[i + 2] & 0x1F) << 8) | entries[i + 3] for i in range(0, len(entries) - 3, 4)
            if (entries[i] << 8 | entries[i + 1]) != 0]


def _pmt(section: bytes) -> list[tuple[int, int]]:
    """``[(stream_type, PID), ...]`` of a program map section (table 2), in its order."""
    if len(section) < 12 or section[0] != 0x02:
        return []
    pos = 12 + (((section[10] & 0x0F) << 8) | section[11])
    out = []
    while pos + 5 <= len(section) - 4:
        out.append((section[pos], ((section[pos + 1] & 0x1F) << 8) | section[pos + 2]))
        pos += 5 + (((section[pos + 3] & 0x0F) << 8) | section[pos + 4])
    return out


def _blocks(f: BinaryIO, start: int, size: int, first: int = 0,
            count: int = SCAN_PACKETS) -> Iterator[tuple[int, np.ndarray]]:
    """``(index of the first packet, (n, 188) uint8 packets)`` of the file from packet ``first`` on,
    ``count`` at a time; a last partial packet is left out."""
    index = first
    while True:
        f.seek(start + index * size)
        data = f.read(count * size)
        n = len(data) // size
        if n == 0:
            return
        yield index, np.frombuffer(data, np.uint8, n * size).reshape(n, size)[:, :TS_PACKET]
        index += n


def _pids(packets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each packet's PID (-1 where its sync byte is wrong) and whether a PES or section starts in it."""
    pid = ((packets[:, 1].astype(np.int32) & 0x1F) << 8) | packets[:, 2]
    pid[packets[:, 0] != SYNC] = -1
    return pid, (packets[:, 1] & 0x40) != 0


def ts_streams(f: BinaryIO) -> tuple[tuple[int, int], list[tuple[int, int]]] | None:
    """``((offset of the first sync byte, packet size), [(stream_type, PID), ...])`` of a transport
    stream (open for reading): the streams its program maps name, those of every map met in the
    first block of packets that holds one; ``None`` for a file that is not a transport stream or
    names no stream in its first :data:`MAX_TABLE_SEARCH` bytes."""
    f.seek(0)
    layout = packet_layout(f.read(max(PACKET_SIZES) * (SYNCS_NEEDED + 1)))
    if layout is None:
        return None
    maps: set[int] = set()
    for first, packets in _blocks(f, *layout):
        if first * layout[1] > MAX_TABLE_SEARCH:
            return None
        pid, unit_start = _pids(packets)
        if not maps:  # the association table names the program maps (a few will do: it repeats)
            for i in np.flatnonzero(unit_start & (pid == 0))[:4]:
                maps.update(_pat(_section(packets[i].tobytes())))
        streams = [s for i in np.flatnonzero(unit_start & np.isin(pid, list(maps)))
                   for s in _pmt(_section(packets[i].tobytes()))]
        if streams:
            return layout, list(dict.fromkeys(streams))
    return None


def ts_video_track(f: BinaryIO, size: int, stream_types: tuple[int, ...]) -> dict | None:
    """The first video stream of the file (open for reading, ``size`` bytes; the one FFmpeg, and so
    OpenCV, decodes), where its ``stream_type`` is in ``stream_types``, as ``{"stream_type", "pid",
    "start", "size"`` (the packet layout), ``"samples"`` (the index of each packet where one of its
    PES packets starts, in file order)}``; ``None`` for a file that is not a transport stream, holds
    no video stream, or whose first one is another codec's (:data:`VIDEO_STREAM_TYPES`; an MPEG-2
    programme before an H.264 one in a recorded multiplex) (:func:`ts_streams`)."""
    if (found := ts_streams(f)) is None:
        return None
    (start, psize), streams = found
    kind, video = next(((t, p) for t, p in streams if t in VIDEO_STREAM_TYPES or t in stream_types), (None, None))
    if video is None or kind not in stream_types:
        return None
    samples = []
    for first, packets in _blocks(f, start, psize):
        pid, unit_start = _pids(packets)
        samples.append(first + np.flatnonzero(unit_start & (pid == video)))
    return {"stream_type": kind, "pid": video, "start": start, "size": psize,
            "samples": [int(i) for i in np.concatenate(samples)] if samples else []}


def access_unit(f: BinaryIO, track: dict, packet: int, limit: int = AU_BYTES) -> bytes:
    """The elementary stream bytes (PES header removed) of the PES packet of ``track`` that starts
    in packet number ``packet``, up to ``limit`` bytes: its payloads in the following packets of the
    stream's PID, up to where its next PES packet starts. ``b""`` where no PES header is there."""
    pes = bytearray()
    for first, packets in _blocks(f, track["start"], track["size"], packet, AU_PACKETS):
        pid, unit_start = _pids(packets)
        for i in np.flatnonzero(pid == track["pid"]):
            if unit_start[i] and first + i != packet:
                return _strip_pes_header(bytes(pes))
            pes += _payload(packets[i].tobytes())
            if len(pes) >= limit + 300:  # a PES header is at most 264 bytes
                return _strip_pes_header(bytes(pes))[:limit]
        if len(packets) < AU_PACKETS:
            break
    return _strip_pes_header(bytes(pes))


def _strip_pes_header(pes: bytes) -> bytes:
    if len(pes) < 9 or pes[:3] != b"\x00\x00\x01":
        return b""
    return pes[9 + pes[8]:]


def annexb_nals(data: bytes) -> Iterator[bytes]:
    """The NAL units of an Annex B byte stream (each behind a ``00 00 01`` start code; the zero
    bytes before the next start code, a 4-byte start code's first among them, are not part of it)."""
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0:
        nxt = data.find(b"\x00\x00\x01", pos + 3)
        nal = data[pos + 3:nxt if nxt >= 0 else len(data)]
        if nxt >= 0:
            nal = nal.rstrip(b"\x00")
        if nal:
            yield nal
        pos = nxt
