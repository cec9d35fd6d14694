"""The design's image services, each a command on the same core (coverctl/cli/*_cmd.py):

- `lens`: reverse image search (SerpApi Google Lens), `services/lens.py`;
- `identify`: which film or series a frame is from (OCR or a vision model, then TMDB),
  `services/identify.py` with the readers in `services/readers.py`;
- `animate`: a stored picture to a short video (Luma Dream Machine), `services/animate.py`;
- `edit`: a stored picture edited with a prompt (Gemini's image model), `services/edit.py`.

They share `services/common.py`: requests through the shared client, error replies read one way,
returned assets downloaded through the network guard. Nothing here prints.
"""
