"""Draw the application icon (resources/icons/draw-classify.png) with Pillow."""

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
out = Path(__file__).resolve().parents[1] / "resources" / "icons" / "draw-classify.png"

icon = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
draw = ImageDraw.Draw(icon)
draw.rounded_rectangle([8, 8, SIZE - 8, SIZE - 8], radius=44, fill=(24, 32, 48, 255))
# a hand-drawn 7 on the "canvas"
draw.line([(50, 62), (132, 62), (84, 190)], fill=(255, 255, 255, 255), width=20, joint="curve")
for x, y in ((50, 62), (132, 62), (84, 190)):
    draw.ellipse([x - 10, y - 10, x + 10, y + 10], fill=(255, 255, 255, 255))
# probability bars, the top one highlighted
for i, width in enumerate((18, 30, 70, 22)):
    top = 70 + i * 30
    colour = (47, 128, 237, 255) if width == 70 else (154, 165, 177, 255)
    draw.rounded_rectangle([160, top, 160 + width, top + 18], radius=5, fill=colour)
icon.save(out)
print(out)
