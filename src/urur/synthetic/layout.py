"""Where each class lies in a synthetic scene, painted layer by layer on strips of rows.

Sizes are in pixels at the paper's ground resolution (about 0.5 m/px): a house is 10-20 m
(20-40 px), a factory up to 100 m, a field parcel 20-70 m wide, a lake hundreds of metres. So a
bigger scene holds more objects, as a bigger UHR image does, and the objects span a wide range of
scales (the "ultra-rich context" the paper measures).

The scene is split into an urban and a rural zone by a smooth random field. Painting order (a
later layer overwrites an earlier one):

1. farmland parcels over the rural zone, a rotated grid of field rows; some parcels are fallow
   (bareland), farmyards (others) or, inside a greenhouse district, rows of greenhouse tunnels;
   field tracks between parcels are others, a few of them dirt roads;
2. bareland patches (rural), irregular blobs of a multi-octave field;
3. woodland (rural), ragged blobs with fragments of many sizes;
4. urban blocks between the streets of a rotated irregular grid: yards (others), buildings on lots
   whose size depends on the block's use (houses, apartments, factories), parks (woodland) and
   construction sites (bareland);
5. ribbon villages: houses along the main roads in the rural zone;
6. water: a meandering river and lakes;
7. roads: the urban street grid and the main roads crossing the whole scene (bridging water).

Scene-wide choices come from the scene's numpy Generator in ``SceneLayout.__init__``; per-object
choices (a lot's building, a parcel's crop) come from ``hash_fields`` of the object's grid
coordinates, so any strip of rows can be painted alone and gives the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from urur.classes import URUR_CLASSES
from urur.synthetic.cities import CityStyle
from urur.synthetic.noise import SmoothField, hash_fields, hash_key

OTHERS, BUILDING, FARMLAND, GREENHOUSE, WOODLAND, BARELAND, WATER, ROAD = (
    URUR_CLASSES.index(name)
    for name in ("others", "building", "farmland", "greenhouse", "woodland", "bareland", "water", "road")
)
FLAT = 128  # ``pattern`` value of a pixel without within-object texture


@dataclass
class Canvas:
    """One strip of rows being painted: centred coordinates and the three output planes.

    ``labels`` holds class values; ``tone`` a per-object random shade 0-255 (a roof's material, a
    crop's ripeness, a lake's depth); ``pattern`` within-object texture (crop rows, greenhouse
    ridges, gabled roofs), 128 meaning none.
    """

    y: np.ndarray  # (h, 1) float32 row coordinate, 0 at the scene centre
    x: np.ndarray  # (1, W) float32 column coordinate, 0 at the scene centre
    labels: np.ndarray
    tone: np.ndarray
    pattern: np.ndarray
    urban: np.ndarray  # (h, W) bool

    def paint(
        self,
        mask: np.ndarray,
        value: int,
        tone: np.ndarray | float = 0.5,
        pattern: np.ndarray | int = FLAT,
    ) -> None:
        """Set ``mask`` pixels to class ``value``; ``tone`` in [0, 1], ``pattern`` in 0..255."""
        self.labels[mask] = value
        tone_u8 = np.clip(np.asarray(tone, dtype=np.float32) * 255.0, 0, 255).astype(np.uint8)
        self.tone[mask] = tone_u8[mask] if tone_u8.ndim else tone_u8
        pattern_u8 = np.asarray(pattern).astype(np.uint8)
        self.pattern[mask] = pattern_u8[mask] if pattern_u8.ndim else pattern_u8


def _rotate(y: np.ndarray, x: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates along (u) and across (v) a direction ``angle`` radians from the column axis."""
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return x * c + y * s, y * c - x * s


class _Bands:
    """A line cut into consecutive bands of random widths: the street blocks or field rows of a grid."""

    def __init__(self, rng: np.random.Generator, extent: float, low: float, high: float) -> None:
        widths = rng.uniform(low, high, size=int(2 * extent / low) + 2).astype(np.float32)
        starts = np.float32(-extent) + np.concatenate([[0.0], np.cumsum(widths)[:-1]]).astype(np.float32)
        self.starts, self.widths = starts, widths

    def __len__(self) -> int:
        return len(self.starts)

    def locate(self, coord: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Band index, offset inside the band and band width at each coordinate."""
        index = np.clip(np.searchsorted(self.starts, coord, side="right") - 1, 0, len(self) - 1)
        return index, coord - self.starts[index], self.widths[index]


@dataclass(frozen=True)
class _Curve:
    """A gently meandering centre line (a river or a main road) and its half width, in pixels."""

    angle: float
    centre: tuple[float, float]
    half_width: float
    amplitudes: tuple[float, ...]
    wavelengths: tuple[float, ...]
    phases: tuple[float, ...]

    @classmethod
    def draw(
        cls, rng: np.random.Generator, size: int, half_width: float, meander: tuple[tuple[float, float], ...]
    ) -> _Curve:
        """A curve through the scene's central part; ``meander`` lists (max amplitude, min wavelength)."""
        return cls(
            angle=float(rng.uniform(0, np.pi)),
            centre=(float(rng.uniform(-0.3, 0.3) * size), float(rng.uniform(-0.3, 0.3) * size)),
            half_width=half_width,
            amplitudes=tuple(float(rng.uniform(0.3, 1.0) * a) for a, _ in meander),
            wavelengths=tuple(float(rng.uniform(1.0, 2.0) * w) for _, w in meander),
            phases=tuple(float(rng.uniform(0, 2 * np.pi)) for _ in meander),
        )

    def coords(self, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position along the curve and signed distance across it."""
        along, across = _rotate(y - np.float32(self.centre[0]), x - np.float32(self.centre[1]), self.angle)
        for amplitude, wavelength, phase in zip(self.amplitudes, self.wavelengths, self.phases, strict=True):
            across = across - np.float32(amplitude) * np.sin(
                along * np.float32(2 * np.pi / wavelength) + phase
            )
        return along, across


def _share_cut(field: SmoothField, share: float, where: np.ndarray | None = None) -> float:
    """The level above which ``field`` covers ``share`` of the pixels (of those ``where`` is true)."""
    sample = field.sample()
    return float(np.quantile(sample if where is None else sample[where], 1 - share))


class SceneLayout:
    """Every scene-wide random choice of one scene; ``paint_rows`` renders any band of rows."""

    track_width = 3.0  # px between field parcels (1.5 m)
    dirt_road_width = 8.0
    setback = 4.0  # px between a street and the first building lot

    def __init__(self, rng: np.random.Generator, height: int, width: int, style: CityStyle) -> None:
        self.height, self.width, self.style = height, width, style
        self.seed = int(rng.integers(2**62))
        size = max(height, width)
        extent = 0.75 * size + 400.0

        # Thresholds are quantiles, so each layer claims its share of the land whatever the scene's
        # size: even a small scene is partly urban, and its rural part has woodland and greenhouses.
        self.urban_field = SmoothField(rng, height, width, cell=900, octaves=2)
        urban_sample = self.urban_field.sample()
        self.urban_cut = float(np.quantile(urban_sample, 1 - style.urban_fraction))
        rural_sample = urban_sample <= self.urban_cut
        self.greenhouse_field = SmoothField(rng, height, width, cell=450, octaves=2)
        self.greenhouse_cut = _share_cut(self.greenhouse_field, style.greenhouse_fraction, rural_sample)
        self.bareland_field = SmoothField(rng, height, width, cell=260, octaves=3)
        self.bareland_cut = _share_cut(self.bareland_field, style.bareland_fraction, rural_sample)
        self.woodland_field = SmoothField(rng, height, width, cell=360, octaves=4)
        self.woodland_cut = _share_cut(self.woodland_field, style.woodland_fraction, rural_sample)
        self.lake_field = SmoothField(rng, height, width, cell=700, octaves=3)
        self.lake_cut = _share_cut(self.lake_field, style.water_fraction)

        self.field_angle = float(rng.uniform(0, np.pi))
        self.field_rows = _Bands(rng, extent, 40, 140)
        self.parcel_length = rng.uniform(120, 480, size=len(self.field_rows)).astype(np.float32)
        self.parcel_shift = (rng.uniform(0, 1, size=len(self.field_rows)) * self.parcel_length).astype(
            np.float32
        )
        self.dirt_road_rows = rng.uniform(size=len(self.field_rows)) < 0.12

        self.street_angle = float(rng.uniform(0, np.pi / 2))
        self.streets_u = _Bands(rng, extent, 150, 380)
        self.streets_v = _Bands(rng, extent, 150, 380)
        self.street_width_u = self._street_widths(rng, len(self.streets_u))
        self.street_width_v = self._street_widths(rng, len(self.streets_v))

        self.main_roads = [
            _Curve.draw(rng, size, float(rng.uniform(7, 11)), ((60.0, 2500.0),))
            for _ in range(int(rng.integers(2, 5)))
        ]
        self.river = (
            _Curve.draw(rng, size, float(rng.uniform(15, 45)), ((220.0, 2200.0), (50.0, 500.0)))
            if rng.uniform() < 0.7
            else None
        )

    @staticmethod
    def _street_widths(rng: np.random.Generator, count: int) -> np.ndarray:
        """Mostly 4-6 m streets, one in six a 9-12 m avenue."""
        widths = rng.uniform(8, 12, size=count)
        avenues = rng.uniform(size=count) < 1 / 6
        widths[avenues] = rng.uniform(18, 24, size=int(avenues.sum()))
        return widths.astype(np.float32)

    def paint_rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(labels, tone, pattern) uint8 planes of rows ``start:stop``."""
        shape = (stop - start, self.width)
        canvas = Canvas(
            y=(np.arange(start, stop, dtype=np.float32) - self.height / 2)[:, None],
            x=(np.arange(self.width, dtype=np.float32) - self.width / 2)[None, :],
            labels=np.full(shape, OTHERS, dtype=np.uint8),
            tone=np.full(shape, 128, dtype=np.uint8),
            pattern=np.full(shape, FLAT, dtype=np.uint8),
            urban=self.urban_field.rows(start, stop) > self.urban_cut,
        )
        self._paint_farmland(canvas, start, stop)
        self._paint_blobs(canvas, self.bareland_field.rows(start, stop), self.bareland_cut, BARELAND)
        self._paint_blobs(canvas, self.woodland_field.rows(start, stop), self.woodland_cut, WOODLAND)
        self._paint_blocks(canvas)
        self._paint_ribbon_villages(canvas)
        self._paint_water(canvas, start, stop)
        self._paint_roads(canvas)
        return canvas.labels, canvas.tone, canvas.pattern

    def _paint_farmland(self, canvas: Canvas, start: int, stop: int) -> None:
        u, v = _rotate(canvas.y, canvas.x, self.field_angle)
        row, v_in_row, _ = self.field_rows.locate(v)
        length = self.parcel_length[row]
        shifted = u + self.parcel_shift[row]
        column = np.floor(shifted / length).astype(np.int64)
        u_in_parcel = shifted - column * length

        rural = ~canvas.urban
        dirt_road = rural & self.dirt_road_rows[row] & (v_in_row < self.dirt_road_width)
        track = (v_in_row < self.track_width) | (u_in_parcel < self.track_width)
        parcel = rural & ~track & ~dirt_road
        use, tone, crop, crop_direction, greenhouse = hash_fields(5, self.seed, row, column)

        crop_period = 4.0 + 5.0 * crop
        crop_coord = np.where(crop_direction < 0.5, u, v)
        crop_rows = FLAT + 45.0 * np.sin(crop_coord * np.float32(2 * np.pi) / crop_period)
        canvas.paint(parcel, FARMLAND, tone, crop_rows)
        canvas.paint(parcel & (use < 0.07), BARELAND, tone)
        canvas.paint(parcel & (use >= 0.07) & (use < 0.11), OTHERS, tone)

        district = self.greenhouse_field.rows(start, stop) > self.greenhouse_cut
        greenhouses = parcel & district & (use >= 0.25)
        period = 10.0 + 6.0 * greenhouse
        phase = np.mod(v_in_row - self.track_width, period) / period
        ends = (u_in_parcel > self.track_width + 4) & (u_in_parcel < length - 4)
        tunnel = greenhouses & (phase < 0.72) & ends
        canvas.paint(greenhouses, OTHERS, tone)
        canvas.paint(tunnel, GREENHOUSE, tone, FLAT + 70.0 * np.sin(np.pi * phase / 0.72))
        canvas.paint(dirt_road, ROAD, 0.8)

    @staticmethod
    def _paint_blobs(canvas: Canvas, field: np.ndarray, cut: float, value: int) -> None:
        """Rural blobs where ``field`` exceeds ``cut``; deeper inside means a darker or denser tone."""
        canvas.paint(~canvas.urban & (field > cut), value, (field - cut) * 2.0)

    def _paint_blocks(self, canvas: Canvas) -> None:
        u, v = _rotate(canvas.y, canvas.x, self.street_angle)
        iu, u_in_band, band_u = self.streets_u.locate(u)
        iv, v_in_band, band_v = self.streets_v.locate(v)
        street_u, street_v = self.street_width_u[iu], self.street_width_v[iv]
        # Block-local coordinates (the street runs along the start of each band) and block sides.
        bu, bv = u_in_band - street_u, v_in_band - street_v
        side_u, side_v = band_u - street_u, band_v - street_v
        block = hash_key(self.seed + 1, iu, iv)
        use, yard_tone, open_tone, lot_u_share, lot_v_share = hash_fields(5, 1, block)
        urban = canvas.urban
        canvas.paint(urban, OTHERS, yard_tone)

        inner = (
            (bu > self.setback)
            & (bu < side_u - self.setback)
            & (bv > self.setback)
            & (bv < side_v - self.setback)
        )
        canvas.paint(urban & inner & (use >= 0.86) & (use < 0.93), WOODLAND, open_tone)
        canvas.paint(urban & inner & (use >= 0.93), BARELAND, open_tone)

        # Lot sizes by block use: houses, apartment/commercial blocks, factories.
        houses, apartments = use < 0.5, (use >= 0.5) & (use < 0.72)
        low = np.where(houses, 22.0, np.where(apartments, 50.0, 90.0)).astype(np.float32)
        high = np.where(houses, 40.0, np.where(apartments, 100.0, 200.0)).astype(np.float32)
        lot_u = low + (high - low) * lot_u_share
        lot_v = low + (high - low) * lot_v_share
        density = np.where(use < 0.72, np.float32(self.style.building_density), np.float32(0.85))

        built = urban & (use < 0.86)
        ju, fu = self._lot(bu, side_u, lot_u)
        jv, fv = self._lot(bv, side_v, lot_v)
        lot = hash_key(self.seed + 2, block, ju, jv)
        insets = [0.06 + 0.24 * share for share in hash_fields(4, 1, lot)]
        presence, roof_tone, roof_shape = hash_fields(3, 2, lot)
        building = (
            built
            & (ju >= 0)
            & (jv >= 0)
            & (presence < density)
            & (fu > insets[0])
            & (fu < 1 - insets[1])
            & (fv > insets[2])
            & (fv < 1 - insets[3])
        )
        gabled = houses & (roof_shape < 0.6)
        ridge_side = (fv - insets[2]) / (1 - insets[2] - insets[3]) < 0.5
        roof = np.where(gabled, np.where(ridge_side, FLAT + 35, FLAT - 35), FLAT)
        canvas.paint(building, BUILDING, roof_tone, roof)

    def _lot(self, position: np.ndarray, side: np.ndarray, lot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lot index (-1 outside the lots) and position inside the lot along one block side.

        Whole lots are centred in the block between the setbacks, so no building is cut by a street.
        """
        count = np.floor((side - 2 * self.setback) / lot)
        offset = position - (side - count * lot) / 2
        index = np.floor(offset / lot)
        index = np.where((offset >= 0) & (index < count), index, -1).astype(np.int64)
        return index, offset / lot - index

    def _paint_ribbon_villages(self, canvas: Canvas) -> None:
        for number, road in enumerate(self.main_roads):
            along, across = road.coords(canvas.y, canvas.x)
            beyond = np.abs(across) - (road.half_width + 6.0)
            lot_length = 28.0 + 10.0 * (number % 2)
            index = np.floor(along / lot_length).astype(np.int64)
            depth_share, presence, tone = hash_fields(3, self.seed + 3 + number, index, across > 0)
            depth = 16.0 + 14.0 * depth_share
            in_lot = along / lot_length - index
            house = (
                ~canvas.urban
                & (beyond > 0)
                & (beyond < depth)
                & (in_lot > 0.12)
                & (in_lot < 0.88)
                & (presence < 0.7 * self.style.building_density)
            )
            canvas.paint(house, BUILDING, tone)

    def _paint_water(self, canvas: Canvas, start: int, stop: int) -> None:
        if self.river is not None:
            _, across = self.river.coords(canvas.y, canvas.x)
            canvas.paint(np.abs(across) < self.river.half_width, WATER, 0.5)
        lake = self.lake_field.rows(start, stop)
        canvas.paint(lake > self.lake_cut, WATER, (lake - self.lake_cut) * 1.5)

    def _paint_roads(self, canvas: Canvas) -> None:
        u, v = _rotate(canvas.y, canvas.x, self.street_angle)
        iu, u_in_band, _ = self.streets_u.locate(u)
        iv, v_in_band, _ = self.streets_v.locate(v)
        street = (u_in_band < self.street_width_u[iu]) | (v_in_band < self.street_width_v[iv])
        canvas.paint(canvas.urban & street, ROAD, 0.5)
        for road in self.main_roads:
            _, across = road.coords(canvas.y, canvas.x)
            canvas.paint(np.abs(across) < road.half_width, ROAD, 0.3)


def _isolated_pixels(labels: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of pixels in rows ``start:stop`` with no 4-neighbour of their own class.

    Such pixels are rasterisation debris where rotated layers clip each other (1-px specks and
    staircase lines); no annotator would draw them. Pixels outside the scene count as equal.
    """
    height = labels.shape[0]
    block = labels[max(start - 1, 0) : min(stop + 1, height)]
    top = [block[:1]] if start == 0 else []
    bottom = [block[-1:]] if stop == height else []
    padded = np.pad(np.concatenate([*top, block, *bottom]), ((0, 0), (1, 1)), mode="edge")
    centre = padded[1:-1, 1:-1]
    alone = (
        (padded[:-2, 1:-1] != centre)
        & (padded[2:, 1:-1] != centre)
        & (padded[1:-1, :-2] != centre)
        & (padded[1:-1, 2:] != centre)
    )
    rows, cols = np.nonzero(alone)
    return rows + start, cols


def _absorb_isolated_pixels(planes: tuple[np.ndarray, np.ndarray, np.ndarray], strip_rows: int) -> None:
    """Give each isolated pixel the class, tone and pattern of its most common 4-neighbour.

    All isolated pixels are found before any is changed, so the result does not depend on the strips.
    """
    labels = planes[0]
    height, width = labels.shape
    found = [_isolated_pixels(labels, a, min(a + strip_rows, height)) for a in range(0, height, strip_rows)]
    rows = np.concatenate([r for r, _ in found])
    cols = np.concatenate([c for _, c in found])
    if rows.size == 0:
        return
    neighbour_rows = np.stack([np.maximum(rows - 1, 0), np.minimum(rows + 1, height - 1), rows, rows])
    neighbour_cols = np.stack([cols, cols, np.maximum(cols - 1, 0), np.minimum(cols + 1, width - 1)])
    neighbours = labels[neighbour_rows, neighbour_cols]  # (4, n): up, down, left, right
    votes = (neighbours[:, None, :] == neighbours[None, :, :]).sum(axis=1)
    winner = np.argmax(votes, axis=0)  # ties go to the first direction in order
    pick = np.arange(rows.size)
    source = (neighbour_rows[winner, pick], neighbour_cols[winner, pick])
    updates = [plane[source] for plane in planes]
    for plane, values in zip(planes, updates, strict=True):
        plane[rows, cols] = values


def render_layout(layout: SceneLayout, strip_rows: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full (labels, tone, pattern) uint8 planes, painted strip by strip to bound memory."""
    planes = tuple(np.empty((layout.height, layout.width), dtype=np.uint8) for _ in range(3))
    for start in range(0, layout.height, strip_rows):
        stop = min(start + strip_rows, layout.height)
        for plane, strip in zip(planes, layout.paint_rows(start, stop), strict=True):
            plane[start:stop] = strip
    _absorb_isolated_pixels(planes, strip_rows)
    return planes
