"""The Upload a face page's live camera: the shipped model on the webcam stream.

:func:`live_camera_section` draws the whole section (one call on the page). Live video goes
through ``streamlit-webrtc``: the browser sends the camera's frames to this server over
WebRTC, :class:`lmkviz.live.LiveProcessor` draws the landmarks and the chosen heatmap on
each one, and the annotated stream comes back. Without ``streamlit-webrtc``, or when the
visitor picks it, snapshots from ``st.camera_input`` take the same path one photo at a time.

No STUN/TURN server is used unless ``LMKVIZ_ICE_SERVERS`` names some
(:func:`lmkviz.live.parse_ice_servers`): a browser on the same machine or network as the
server needs none, and nothing on the internet is contacted.
"""

from __future__ import annotations

import os
from typing import Optional

import streamlit as st

from lmkviz.decoding import DECODER_LABELS, DECODERS
from lmkviz.live import LiveProcessor, LiveSettings, default_channel, parse_ice_servers, trace_network
from ui import common

ICE_ENV = "LMKVIZ_ICE_SERVERS"
MODES = {"live": "Live video", "snapshot": "Snapshots"}
PROCESSOR_KEY = "live_processor"
STREAMER_KEY = "live_camera"
STATS_REFRESH_S = 1.0
LIVE_THREADS = 1
"""torch threads per live frame: one core for the network leaves the other to the video's decoding and
encoding, and a frame costs the least CPU time so (``bench/live_camera.py``)."""
VIDEO_CONSTRAINTS = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 30}},
                     "audio": False}
"""640x480 is plenty for a face and keeps decoding, processing and encoding cheap on 2 cores."""


def webrtc_available() -> Optional[str]:
    """None when streamlit-webrtc can be used, else why not (shown to the visitor)."""
    try:
        import av  # noqa: F401
        import streamlit_webrtc  # noqa: F401
    except ImportError as err:
        return (f"Live video needs the `streamlit-webrtc` package ({err.name or err} is missing): "
                "`pip install -r requirements.txt` installs it. Snapshots work meanwhile.")
    from streamlit_webrtc.session_info import get_this_session_info

    try:
        session = get_this_session_info()
    except (AttributeError, RuntimeError):  # a script run outside a Streamlit server (a test harness)
        session = None
    if session is None:
        return "Live video needs the app served by `streamlit run`; snapshots work here."
    return None


def default_predictor():
    """The shipped checkpoint's predictor (cached for the whole server), or None when it is not installed."""
    path = common.DEFAULT_CHECKPOINT
    if not path.is_file():
        return None
    return common.predictor_cached(str(path), common.file_mtime(str(path)))


@st.fragment
def live_camera_section() -> None:
    """The "Live camera" section of the Upload a face page: a toggle, and once it is on the
    settings, the camera mode and the stream or the snapshot.

    A fragment: its widgets and the WebRTC component (whose state changes as the stream
    starts, connects and stops) rerun this section only, never the rest of the page, whose
    figures would otherwise hold the CPU while the stream starts. Not an expander: a WebRTC
    component first drawn inside a collapsed expander keeps a zero height.
    """
    with st.container(border=True, key="live_section"):
        on = st.toggle(":material/videocam: **Live camera**: landmarks on your webcam as you move", key="live_on")
        if not on:
            return
        st.markdown(
            "The shipped model on your camera, frame after frame: the face detector runs every few frames and "
            "the square crop follows the landmarks in between, so each frame costs one pass of the network. "
            "The frames go from your browser to this lmkviz server and back, nowhere else.")
        predictor = default_predictor()
        if predictor is None:
            st.warning("The live camera runs the shipped model (`checkpoints/default.pt`), which is not installed.",
                       icon=":material/info:")
            return
        settings = settings_widgets(predictor)
        unavailable = webrtc_available()
        modes = ["snapshot"] if unavailable else list(MODES)
        common.ensure_choice("live_mode", modes)
        mode = st.segmented_control("Camera", modes, format_func=MODES.get, key="live_mode",
                                    help="Live video streams your camera through the model (WebRTC). Snapshots "
                                         "send one photo at a time, for browsers or networks where video cannot "
                                         "flow.") or modes[0]
        if unavailable:
            st.info(unavailable, icon=":material/info:")
        if mode == "live":
            live_video(predictor, settings)
        else:
            snapshot(settings)


def settings_widgets(predictor) -> LiveSettings:
    """The landmark whose heatmap is drawn, the decoder, the opacity and the detection interval."""
    from lmkviz.data import scheme_for

    scheme = scheme_for(predictor.loaded.num_points)
    indices = list(predictor.loaded.indices)
    channels = list(range(len(indices)))
    common.ensure_choice("live_channel", channels, default_channel(predictor.names))
    c = st.columns([2, 1.2, 1, 1])
    channel = c[0].selectbox("Heatmap of landmark", channels, key="live_channel",
                             format_func=lambda j: common.landmark_label(scheme, indices[j]),
                             help="Drawn over the crop, Viridis like the maps below; its point gets a white ring.")
    decoder = c[1].selectbox("Decoder", list(DECODERS), index=list(DECODERS).index("dark"), key="live_decoder",
                             format_func=DECODER_LABELS.get)
    opacity = c[2].slider("Heatmap opacity", 0.0, 1.0, 0.6, 0.05, key="live_opacity")
    every = c[3].slider("Detect every (frames)", 1, 30, 15, key="live_detect_every",
                        help="The face detector costs more than the network: between detections the crop "
                             "follows the landmarks. 1 = detect on every frame.")
    return LiveSettings(decoder=decoder, channel=channel, opacity=opacity, detect_every=every)


@st.cache_resource(show_spinner="Preparing the network for video…", max_entries=2)
def traced_network_cached(checkpoint: str, mtime: float):
    """:func:`lmkviz.live.trace_network` of a checkpoint's predictor (None when it cannot be traced)."""
    return trace_network(common.predictor_cached(checkpoint, mtime))


def processor_for(predictor, settings: LiveSettings) -> LiveProcessor:
    """This visitor's processor (kept in the session), with the current settings."""
    path = str(common.DEFAULT_CHECKPOINT)
    network = traced_network_cached(path, common.file_mtime(path))
    processor = st.session_state.get(PROCESSOR_KEY)
    if processor is None:
        processor = st.session_state[PROCESSOR_KEY] = LiveProcessor(predictor, settings, threads=LIVE_THREADS)
    processor.predictor, processor.network = predictor, network  # the video thread picks these up on its next frame
    processor.settings = settings
    return processor


def frame_callback(processor: LiveProcessor):
    """streamlit-webrtc's video callback: av.VideoFrame in, annotated av.VideoFrame out. A
    frame that cannot be processed goes back unchanged (the error is shown on the page)."""
    import av

    def callback(frame):
        image = frame.to_ndarray(format="rgb24")
        try:
            out = processor(image)
        except Exception as err:  # noqa: BLE001  (the video thread must go on; the page says what happened)
            processor.error = str(err)
            return frame
        new = av.VideoFrame.from_ndarray(out, format="rgb24")
        new.pts, new.time_base = frame.pts, frame.time_base
        return new

    return callback


def live_video(predictor, settings: LiveSettings) -> None:
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    try:
        servers = parse_ice_servers(os.environ.get(ICE_ENV))
    except ValueError as err:
        st.error(f"{ICE_ENV}: {err}")
        return
    processor = processor_for(predictor, settings)
    ctx = webrtc_streamer(
        key=STREAMER_KEY, mode=WebRtcMode.SENDRECV, rtc_configuration={"iceServers": servers},
        media_stream_constraints=VIDEO_CONSTRAINTS, video_frame_callback=frame_callback(processor),
        async_processing=True, translations={"start": "Start the camera", "stop": "Stop"},
        on_change=processor.reset)
    if ctx.state.playing:
        live_stats(processor)
    else:
        st.caption("Press **Start the camera** and allow the browser to use it. The landmarks appear on the "
                   "returned video; the rate below counts the frames that went through the model."
                   + ("" if servers else " (No STUN/TURN server is configured: the browser must reach this "
                      f"server directly, as on localhost; set {ICE_ENV} for other networks.)"))


@st.fragment(run_every=STATS_REFRESH_S)
def live_stats(processor: LiveProcessor) -> None:
    """Frames, frames per second and time per frame of the running stream, refreshed every second."""
    stats = processor.stats()
    with st.container(key="live_stats", horizontal=True):
        st.metric("Frames", f"{stats.frames}")
        st.metric("Frames/s", f"{stats.rate:.1f}", help="Frames that went through the model per second, over "
                                                          "the last 30 frames.")
        st.metric("ms per frame", f"{stats.busy_ms:.0f}", help="Detection or tracking, network, decoding and "
                                                                "drawing, mean over the last 30 frames.")
        st.metric("Landmarks", f"{stats.landmarks}", help="Drawn on the last frame (0: no face found).")
        st.metric("Detections", f"{stats.detections}", help="Frames on which the face detector ran.")
    if processor.error:
        st.error(f"A frame could not be processed: {processor.error}")


def snapshot(settings: LiveSettings) -> None:
    photo = st.camera_input("Take a snapshot", key="live_snapshot")
    if photo is None:
        st.caption("Each snapshot goes through the same steps as a live frame: face, crop, network, landmarks.")
        return
    path = common.DEFAULT_CHECKPOINT
    result = snapshot_cached(str(path), common.file_mtime(str(path)), photo.getvalue(), settings)
    if isinstance(result, str):
        st.error(result)
        return
    image, landmarks = result
    st.image(image, caption=f"{landmarks} landmarks ({DECODER_LABELS[settings.decoder]})" if landmarks else
             "No face found: face the camera, closer and well lit.")


@st.cache_data(max_entries=4, show_spinner="Finding the landmarks…")
def snapshot_cached(checkpoint: str, mtime: float, data: bytes, settings: LiveSettings):
    """(annotated image, landmarks drawn) for one snapshot, or the error message as a str."""
    from lmkviz.inference import load_image

    try:
        loaded = load_image(data, name="snapshot.jpg")
        processor = LiveProcessor(common.predictor_cached(checkpoint, mtime), LiveSettings(
            decoder=settings.decoder, channel=settings.channel, opacity=settings.opacity, show_rate=False))
        result = processor.process(loaded.array)
    except ValueError as err:
        return str(err)
    return result.image, processor.stats().landmarks
