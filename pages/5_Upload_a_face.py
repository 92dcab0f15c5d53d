"""Upload a face: landmarks on your own photo, with the heatmaps behind them and downloads."""

import ui  # noqa: F401  (first: sets the OpenMP wait policy before torch loads)

from pathlib import Path

import streamlit as st

from lmkviz.data import scheme_for
from lmkviz.decoding import DECODER_LABELS, DECODERS
from lmkviz.inference import Box, crop_limits, initial_crop
from lmkviz.viz import upload as vup
from lmkviz.viz.images import add_points, heatmap_grid, heatmap_overlay
from lmkviz.viz.style import DECODER_COLOURS, DECODER_SYMBOLS, POINT_OUTLINE
from ui import imported as imp
from ui import share
from ui import upload as lab
from ui.live import live_camera_section
from ui.common import (
    figure_config,
    checkpoint_caption,
    checkpoint_files,
    checkpoint_label,
    ensure_choice,
    file_mtime,
    grid_shape,
    keep_widget_state,
    landmark_label,
    setup_page,
)

setup_page("Upload a face", ":material/add_a_photo:")
files = checkpoint_files()
by_path = {f["path"]: f for f in files}
share.restore(lab.SHARED, parse=lab.SHARED_PARSE, choices={"img": lab.SOURCES, "model": imp.SOURCES,
                                                           "ckpt": by_path, "colour": vup.COLOUR_BY})
lab.view_defaults()
st.markdown(
    "Find the landmarks on any photo. The face is found first (OpenCV's face detector), a square around it is "
    "cut out and resized to the network's input, the network paints one heatmap per landmark, and the decoders "
    "turn them into points back in your photo's pixels. Nothing leaves this computer.")
live_camera_section()  # the shipped model on the webcam stream, or on snapshots (ui/live.py)

# ----------------------------------------------------------------------------- the image
c = st.columns([1, 2], gap="large")
source = c[0].radio("Image", list(lab.SOURCES), format_func=lab.SOURCES.get, key="up_source")
with c[1]:
    if source == "upload":
        file = st.file_uploader("A photo with a face (JPEG, PNG or WebP, up to 20 MB)",
                                type=["jpg", "jpeg", "png", "webp"], key="up_file")
        data, name = (file.getvalue(), file.name) if file is not None else (None, None)
    elif source == "camera":
        photo = st.camera_input("Look into the camera", key="up_camera")
        data, name = (photo.getvalue(), "camera.jpg") if photo is not None else (None, None)
    else:
        data, name = lab.example_image(source), f"{source}.png"
        st.caption("A photo of astronaut Eileen Collins (NASA, public domain), shipped with scikit-image."
                   if source == "astronaut" else "A face drawn by lmkviz's synthetic-face generator.")
if data is None:
    st.info("Choose a photo, or try one of the examples.", icon=":material/photo_camera:")
    share.publish()
    share.copy_link(st.sidebar)
    st.stop()

loaded = lab.load_image_cached(data, name)
if isinstance(loaded, str):
    st.error(f"{loaded}\n\nTry another file: a photo saved as JPEG, PNG or WebP.")
    st.stop()
image = loaded.array
key = lab.digest(data)
for note in loaded.notes:
    st.info(f"The photo was {note}.", icon=":material/info:")

# ----------------------------------------------------------------------------- model and crop
with st.sidebar:
    st.header("Model")
    model_source = imp.source_picker("up")
    checkpoint = None
    if model_source == "imported":
        checkpoint = imp.imported_model("up")
    elif files:
        ensure_choice("up_checkpoint", by_path)
        checkpoint = st.selectbox("Checkpoint", list(by_path), key="up_checkpoint",
                                  format_func=lambda p: checkpoint_label(by_path[p]))
    if checkpoint is not None:
        info = imp.model_info(checkpoint, file_mtime(checkpoint))
        if isinstance(info, str):
            st.error(info)
            checkpoint = None
        else:
            st.caption(checkpoint_caption(info))
    available = lab.checkpoint_decoders(checkpoint, file_mtime(checkpoint)) if checkpoint else DECODERS
    lab.decoder_defaults(available)
    decoders = st.pills("Decoders", list(available), selection_mode="multi",
                        format_func=lambda m: DECODER_LABELS.get(m, m), key="up_decoders",
                        help="Which decoders' points to draw (the downloads hold all of them).")
    decoders = list(decoders or [])
    colour_by = st.segmented_control(
        "Colour the points by", vup.COLOUR_BY, required=True, key="up_colour_by",
        help="confidence: how sure the network is of each landmark (the peak of its heatmap): green sure, "
             "orange unsure, red a guess. decoder: one colour per decoder.")

faces, detect_ms = lab.faces_cached(key, image)
chosen = 0
if len(faces) > 1:
    options = lab.face_options(faces)
    ensure_choice(f"up_face:{key}", options)
    keep_widget_state([f"up_face:{key}"])
    chosen = st.selectbox(f"{len(faces)} faces found: which one?", list(options), format_func=options.get,
                          key=f"up_face:{key}", help="Largest first. Each face keeps its own crop.")
face = faces[chosen] if faces else None
limits = crop_limits(image.shape)  # how far the crop sliders reach
start = limits.clamp(initial_crop(image.shape, [face] if face else []))  # around the face, else the whole photo
if faces:
    st.caption(("1 face found." if len(faces) == 1 else "The face picked above is used (numbered on the photo).")
               + " Adjust the blue crop below if the face is not centred in it.")
elif checkpoint is None:
    st.warning("No face was found in this photo (the detector wants a frontal face, not too small). "
               "Move the blue crop onto the face with the sliders below: the network expects a face filling "
               "about two thirds of the square.", icon=":material/face:")

if checkpoint is None and model_source == "imported":
    st.info("Upload your ONNX or TorchScript heatmap model in the sidebar (with its sidecar, or fill in its "
            "settings): its heatmaps and points appear here.", icon=":material/upload_file:")
elif checkpoint is None:
    st.warning("No checkpoint to run: the shipped model (`checkpoints/default.pt`) is not installed and no "
               "training run has saved one. Train one on the **Train** page (the Quick CPU demo takes about two "
               "minutes); meanwhile you can still see the face detection and the crop.", icon=":material/info:")

# the crop sliders and the prediction come before the layout, so that the verdict can head the page
verdict = st.container()
left, right = st.columns([1.15, 1], gap="large")
with left:
    st.subheader("Your photo")
    c = st.columns(3)
    cx = c[0].slider("Crop centre x (px)", *limits.x, start.centre[0], 1.0, key=lab.crop_key("up_cx", key, chosen),
                     format="%.0f")
    cy = c[1].slider("Crop centre y (px)", *limits.y, start.centre[1], 1.0, key=lab.crop_key("up_cy", key, chosen),
                     format="%.0f")
    side = c[2].slider("Crop size (px)", *limits.side, start.width, 1.0, key=lab.crop_key("up_side", key, chosen),
                       format="%.0f")
    box = Box.square(cx, cy, side)
    prediction = None
    if checkpoint is not None:
        try:
            prediction = lab.predict_cached(checkpoint, file_mtime(checkpoint), key, tuple(box.as_list()),
                                            tuple(face.as_list()) if face else None, image)
        except ValueError as err:
            st.error(str(err))
    if prediction is not None:
        with verdict:
            lab.show_quality(prediction.quality())
            if not faces:
                st.caption("The face detector found no face (it wants a frontal face, not too small): the crop "
                           "starts as the whole photo. Move the blue crop onto a face with the sliders below; "
                           "the network expects a face filling about two thirds of the square.")
    scheme = scheme_for(info.num_points) if prediction is not None else None
    indices = list(prediction.indices) if prediction is not None else []
    names = list(prediction.names) if prediction is not None else None
    shown = {m: prediction.points[m] for m in decoders if m in prediction.points} if prediction is not None else {}
    with st.container(horizontal=True, vertical_alignment="center"):
        zoom = st.toggle("Zoom on the crop", key="up_zoom")
        st.button("Reset the crop", icon=":material/restart_alt:", key="up_reset", on_click=lab.reset_crop,
                  args=(key,), help="Back to the crop around the detected face")
    st.plotly_chart(vup.photo_figure(image, box, face, shown, indices, names, zoom=zoom, faces=faces,
                                     confidence=prediction.confidence if prediction is not None else None,
                                     colour_by=colour_by),
                    key="up_photo", config=figure_config("upload-photo-with-landmarks", interactive=True))
    st.caption(("Dashed: the face the detector found" + (" (dotted: the others)" if len(faces) > 1 else "") + ". "
                if faces else "") + "Blue: the square fed to the network, black where it leaves the photo (as the "
               "network sees it). Points are in your photo's pixels"
               + ("; their colour says how sure the network is of each (the peak of its heatmap)."
                  if colour_by == "confidence" else "; one colour and symbol per decoder."))
    if prediction is not None and not decoders:
        st.caption("Pick at least one decoder in the sidebar to see its points.")

with right:
    st.subheader("What the network sees")
    if prediction is None:
        st.caption("The crop and its heatmaps appear here once a checkpoint is available.")
    else:
        crop_size = prediction.crop_image.shape[0]
        c = st.columns([2, 1])
        lab.keep_in_range("up_channel", len(indices))
        channel = c[0].selectbox("Heatmap of landmark", range(len(indices)), key="up_channel",
                                 format_func=lambda j: landmark_label(scheme, indices[j]))
        opacity = c[1].slider("Opacity", 0.0, 1.0, step=0.05, key="up_opacity")
        fig = heatmap_overlay(prediction.crop_image, prediction.heatmaps[channel], opacity=opacity, height=430)
        for m in shown:
            add_points(fig, prediction.crop_points(m), name=DECODER_LABELS.get(m, m), colour=DECODER_COLOURS.get(m, "#333"),
                       symbol=DECODER_SYMBOLS.get(m, "circle"), size=8, index=indices, labels=names,
                       show_legend=False, outline=POINT_OUTLINE, outline_width=1.2)
        st.plotly_chart(fig, key="up_overlay", config=figure_config("upload-heatmap-overlay", interactive=True))
        hm = prediction.heatmaps.shape[1:]
        st.caption(f"The crop at the network's {crop_size}×{crop_size} px input, with the heatmap of "
                   f"{landmark_label(scheme, indices[channel])} ({hm[1]}×{hm[0]} cells; peak "
                   f"{prediction.confidence[channel]:.2f}). Low peaks mean the network is unsure.")
        if prediction.timings is not None:
            st.caption(lab.timing_caption(prediction.timings, detect_ms))

if prediction is not None:
    st.subheader(f"All {len(indices)} heatmaps")
    cols, cell = grid_shape(len(indices), width_px=1100)
    st.plotly_chart(heatmap_grid(prediction.heatmaps, titles=[str(i) for i in indices], columns=cols,
                                 cell_px=cell, zmax=None), key="up_grid", config=figure_config("upload-heatmap-per-landmark"))
    st.caption("One map per landmark, all on the same colour scale (0 to the highest peak). A sharp bright "
               "spot: the network is sure; a faint smear: it is guessing.")

    # ------------------------------------------------------------------------- downloads
    st.subheader("Download")
    record = lab.download_record(prediction, loaded, name)  # the schema of `lmkviz predict --json`
    stem = Path(name).stem or "photo"
    c = st.container(horizontal=True)
    c.download_button("Landmarks (JSON)", lab.landmarks_json(record),
                         file_name=f"{stem}_landmarks.json", mime="application/json", icon=":material/data_object:",
                         on_click="ignore", key="up_dl_json")
    c.download_button("Landmarks (CSV)", lab.landmarks_csv(record), file_name=f"{stem}_landmarks.csv",
                         mime="text/csv", icon=":material/table:", on_click="ignore", key="up_dl_csv")
    png_points = shown or {"dark": prediction.points["dark"]}
    c.download_button("Picture with points (PNG)", lambda: vup.overlay_png(image, png_points, crop=box),
                         file_name=f"{stem}_landmarks.png", mime="image/png", icon=":material/image:",
                         on_click="ignore", key="up_dl_png")
    st.caption("JSON and CSV hold every decoder's points (and each landmark's heatmap peak) in the pixels of your original file"
               + (f" (the photo was shown downscaled by {loaded.downscaled_by:.2f}×)" if loaded.scale < 0.999 else "")
               + "; the PNG shows the decoders picked in the sidebar.")

share.publish()
share.copy_link(st.sidebar)
