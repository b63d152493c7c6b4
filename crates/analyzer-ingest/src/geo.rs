//! The advert geo filter (ingest spec §4.4.3): polygon with a buffer, or the legacy bounding box.

use analyzer_config::GeoFilter;

/// Kilometres per degree of latitude in the flat-earth distance CoreScope uses.
const KM_PER_DEGREE: f64 = 111.0;

/// True when a node at `(lat, lon)` is inside the area (or the filter cannot judge it).
///
/// Passes when: no filter; no position; `lat = lon = 0` (no fix); inside the polygon (≥ 3
/// vertices, ray casting); within `bufferKm` of a polygon edge. Without a polygon, the legacy
/// box applies when all four bounds are set (inclusive). Anything else passes.
pub fn node_in_area(filter: Option<&GeoFilter>, lat: Option<f64>, lon: Option<f64>) -> bool {
    let (Some(filter), Some(lat), Some(lon)) = (filter, lat, lon) else {
        return true;
    };
    if lat == 0.0 && lon == 0.0 {
        return true;
    }
    if let Some(polygon) = filter.polygon.as_deref().filter(|p| p.len() >= 3) {
        if inside_polygon(polygon, lat, lon) {
            return true;
        }
        let buffer = filter.buffer_km.unwrap_or(0.0);
        return buffer > 0.0 && distance_to_polygon_km(polygon, lat, lon) <= buffer;
    }
    match (
        filter.lat_min,
        filter.lat_max,
        filter.lon_min,
        filter.lon_max,
    ) {
        (Some(lat_min), Some(lat_max), Some(lon_min), Some(lon_max)) => {
            (lat_min..=lat_max).contains(&lat) && (lon_min..=lon_max).contains(&lon)
        }
        _ => true,
    }
}

/// Ray casting over `[lat, lon]` vertices.
fn inside_polygon(polygon: &[[f64; 2]], lat: f64, lon: f64) -> bool {
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let [lat_i, lon_i] = polygon[i];
        let [lat_j, lon_j] = polygon[j];
        if (lat_i > lat) != (lat_j > lat) {
            let crossing = lon_i + (lat - lat_i) / (lat_j - lat_i) * (lon_j - lon_i);
            if lon < crossing {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Smallest flat-earth distance from the point to any edge, in km; longitude is scaled by the
/// cosine of the edge's mean latitude.
fn distance_to_polygon_km(polygon: &[[f64; 2]], lat: f64, lon: f64) -> f64 {
    let mut best = f64::INFINITY;
    for i in 0..polygon.len() {
        let a = polygon[i];
        let b = polygon[(i + 1) % polygon.len()];
        let scale = ((a[0] + b[0]) / 2.0).to_radians().cos();
        // Project to km with the point at the origin.
        let ax = (a[1] - lon) * KM_PER_DEGREE * scale;
        let ay = (a[0] - lat) * KM_PER_DEGREE;
        let bx = (b[1] - lon) * KM_PER_DEGREE * scale;
        let by = (b[0] - lat) * KM_PER_DEGREE;
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = dx * dx + dy * dy;
        let t = if len2 == 0.0 {
            0.0
        } else {
            (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
        };
        let (px, py) = (ax + t * dx, ay + t * dy);
        best = best.min((px * px + py * py).sqrt());
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(buffer_km: Option<f64>) -> GeoFilter {
        GeoFilter {
            polygon: Some(vec![
                [37.0, -122.0],
                [37.0, -121.0],
                [38.0, -121.0],
                [38.0, -122.0],
            ]),
            buffer_km,
            ..GeoFilter::default()
        }
    }

    #[test]
    fn polygon_inside_outside_and_buffer() {
        let f = square(None);
        assert!(node_in_area(Some(&f), Some(37.5), Some(-121.5)));
        assert!(!node_in_area(Some(&f), Some(36.9), Some(-121.5)));
        // 0.05° south of the edge ≈ 5.55 km.
        let buffered = square(Some(6.0));
        assert!(node_in_area(Some(&buffered), Some(36.95), Some(-121.5)));
        let tight = square(Some(5.0));
        assert!(!node_in_area(Some(&tight), Some(36.95), Some(-121.5)));
    }

    #[test]
    fn passes_when_the_filter_cannot_judge() {
        let f = square(None);
        assert!(node_in_area(None, Some(0.5), Some(0.5)));
        assert!(node_in_area(Some(&f), None, Some(1.0)));
        assert!(
            node_in_area(Some(&f), Some(0.0), Some(0.0)),
            "0,0 means no fix"
        );
        let two = GeoFilter {
            polygon: Some(vec![[1.0, 1.0], [2.0, 2.0]]),
            ..GeoFilter::default()
        };
        assert!(
            node_in_area(Some(&two), Some(50.0), Some(50.0)),
            "a 2-vertex polygon is ignored"
        );
        let partial_box = GeoFilter {
            lat_min: Some(1.0),
            lat_max: Some(2.0),
            ..GeoFilter::default()
        };
        assert!(node_in_area(Some(&partial_box), Some(50.0), Some(50.0)));
    }

    #[test]
    fn legacy_box_is_inclusive() {
        let f = GeoFilter {
            lat_min: Some(1.0),
            lat_max: Some(2.0),
            lon_min: Some(3.0),
            lon_max: Some(4.0),
            ..GeoFilter::default()
        };
        assert!(node_in_area(Some(&f), Some(1.0), Some(4.0)));
        assert!(!node_in_area(Some(&f), Some(2.1), Some(3.5)));
        assert!(!node_in_area(Some(&f), Some(1.5), Some(2.9)));
    }
}
