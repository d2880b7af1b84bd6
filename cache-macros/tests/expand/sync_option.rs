// A plain `fn` returning `Option`: `None` is not stored; a parameter
// written as a pattern gets a name the key can use.
#[cache_result(expire = USER_TTL, prefix = "geo", version = 2)]
fn distance((from, to): (Point, Point), unit: Unit) -> Option<f64> {
    from.distance(to, unit)
}
