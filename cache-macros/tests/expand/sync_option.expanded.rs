fn distance(__cache_arg0: (Point, Point), unit: Unit) -> Option<f64> {
    let (
        __cache_state,
        __cache_identity,
    ): (&'static ::cache_runtime::__private::Site, &'static ::core::primitive::str) = {
        static __CACHE_SITE: ::cache_runtime::__private::Site = ::cache_runtime::__private::Site::new(
            ::cache_runtime::__private::Policy::new({
                const __CACHE_EXPIRE: u64 = {
                    let __cache_secs: u64 = USER_TTL;
                    ::core::assert!(
                        __cache_secs > 0, "`expire` must be at least 1 second"
                    );
                    __cache_secs
                };
                ::core::time::Duration::from_secs(__CACHE_EXPIRE)
            }),
        );
        __CACHE_SITE
            .instance({
                let __cache_site = || ();
                ::core::any::type_name_of_val(&__cache_site)
            })
    };
    #[allow(unused_imports)]
    use ::cache_runtime::__private::{ShareClone as _, ShareJson as _};
    let __cache_store: &::cache_runtime::Cache = ::cache_runtime::__private::global();
    let __cache_key = {
        #[allow(unused_imports)]
        use ::cache_runtime::__private::{PushJson as _, PushUnchecked as _};
        let mut __cache_keys = ::cache_runtime::__private::KeysBuilder::new(
            __cache_state,
            __cache_store,
            __cache_identity,
            ::core::any::type_name::<
                <::cache_runtime::__private::SomeOnly as ::cache_runtime::__private::Shape<
                    Option<f64>,
                >>::Stored,
            >(),
            ::core::option::Option::Some("geo"),
            ::core::option::Option::Some(2u32),
        );
        (&::cache_runtime::__private::KeyProbe(&__cache_arg0))
            .push_to(&mut __cache_keys);
        (&::cache_runtime::__private::KeyProbe(&unit)).push_to(&mut __cache_keys);
        __cache_keys.finish()
    };
    ::cache_runtime::__private::some_blocking(
        __cache_state,
        __cache_store,
        __cache_key,
        ::cache_runtime::__private::never,
        (&&::cache_runtime::__private::Sharing::<Option<f64>>::NEW).sharer(),
        move || {
            let (from, to) = __cache_arg0;
            let __cache_ret: Option<f64> = { from.distance(to, unit) };
            #[allow(unreachable_code)] __cache_ret
        },
    )
}
#[doc(hidden)]
#[inline]
#[allow(unused_variables, clippy::too_many_arguments, clippy::needless_pass_by_value)]
fn __cache_result_entry_of_distance(
    __cache_arg0: (Point, Point),
    unit: Unit,
) -> ::cache_runtime::__private::Entry<
    Option<f64>,
    ::cache_runtime::__private::SomeOnly,
> {
    let __cache_identity = ::cache_runtime::__private::site({
        let __cache_site = || ();
        ::core::any::type_name_of_val(&__cache_site)
    });
    let __cache_store: &::cache_runtime::Cache = ::cache_runtime::__private::global();
    let __cache_key = {
        #[allow(unused_imports)]
        use ::cache_runtime::__private::{PushJson as _, PushUnchecked as _};
        let mut __cache_keys = ::cache_runtime::__private::KeysBuilder::hashed(
            __cache_store,
            &__cache_identity,
            ::core::any::type_name::<
                <::cache_runtime::__private::SomeOnly as ::cache_runtime::__private::Shape<
                    Option<f64>,
                >>::Stored,
            >(),
            ::core::option::Option::Some("geo"),
            ::core::option::Option::Some(2u32),
        );
        (&::cache_runtime::__private::KeyProbe(&__cache_arg0))
            .push_to(&mut __cache_keys);
        (&::cache_runtime::__private::KeyProbe(&unit)).push_to(&mut __cache_keys);
        __cache_keys.key()
    };
    ::cache_runtime::__private::Entry::new(
        __cache_store,
        __cache_key,
        ::cache_runtime::__private::Policy::new(
            ::core::time::Duration::from_secs(USER_TTL),
        ),
    )
}
#[doc(hidden)]
#[inline]
fn __cache_result_function_of_distance() -> ::cache_runtime::__private::CachedFunction {
    let __cache_store: ::core::option::Option<&::cache_runtime::Cache> = ::core::option::Option::Some(
        ::cache_runtime::__private::global(),
    );
    ::cache_runtime::__private::CachedFunction::hashed(
        __cache_store,
        ::core::option::Option::Some("geo"),
        ::cache_runtime::__private::site({
            let __cache_site = || ();
            ::core::any::type_name_of_val(&__cache_site)
        }),
    )
}
#[doc(hidden)]
#[allow(dead_code, non_camel_case_types, clippy::too_many_arguments)]
fn __cache_result_keys_of_distance<unit>(
    __cache_keys: &mut ::cache_runtime::__private::KeysBuilder<'_>,
    __cache_arg0: (Point, Point),
    unit: Unit,
) {
    __cache_keys.value(&__cache_arg0);
    __cache_keys.arg::<unit, _>(&unit);
}
