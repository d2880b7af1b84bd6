async fn price(item: u64, currency: String) -> u64 {
    ::cache_runtime::__private::cooperate().await;
    let (
        __cache_state,
        __cache_identity,
    ): (&'static ::cache_runtime::__private::Site, &'static ::core::primitive::str) = {
        static __CACHE_SITE: ::cache_runtime::__private::Site = ::cache_runtime::__private::Site::new(
            ::cache_runtime::__private::Policy::new(
                    ::core::time::Duration::from_secs(300u64),
                )
                .early_refresh(1f64),
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
                <::cache_runtime::__private::Whole as ::cache_runtime::__private::Shape<
                    u64,
                >>::Stored,
            >(),
            ::core::option::Option::None,
            ::core::option::Option::None,
        );
        (&::cache_runtime::__private::KeyProbe(&item)).push_to(&mut __cache_keys);
        (&::cache_runtime::__private::KeyProbe(&currency)).push_to(&mut __cache_keys);
        __cache_keys.finish()
    };
    let __cache_make = || {
        let item = ::cache_runtime::__private::refresh_arg(&item);
        let mut currency = ::cache_runtime::__private::refresh_arg(&currency);
        async move {
            let __cache_ret: u64 = {
                currency.make_ascii_uppercase();
                Catalog::price(item, &currency).await
            };
            #[allow(unreachable_code)] __cache_ret
        }
    };
    ::cache_runtime::__private::refreshing::<
        ::cache_runtime::__private::Whole,
        _,
        _,
        _,
        _,
    >(
            __cache_state,
            __cache_store,
            __cache_key,
            ::cache_runtime::__private::never,
            (&&::cache_runtime::__private::Sharing::<u64>::NEW).sharer(),
            &__cache_make,
        )
        .await
}
#[doc(hidden)]
#[inline]
#[allow(unused_variables, clippy::too_many_arguments, clippy::needless_pass_by_value)]
fn __cache_result_entry_of_price(
    item: u64,
    currency: String,
) -> ::cache_runtime::__private::Entry<u64, ::cache_runtime::__private::Whole> {
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
                <::cache_runtime::__private::Whole as ::cache_runtime::__private::Shape<
                    u64,
                >>::Stored,
            >(),
            ::core::option::Option::None,
            ::core::option::Option::None,
        );
        (&::cache_runtime::__private::KeyProbe(&item)).push_to(&mut __cache_keys);
        (&::cache_runtime::__private::KeyProbe(&currency)).push_to(&mut __cache_keys);
        __cache_keys.key()
    };
    ::cache_runtime::__private::Entry::new(
        __cache_store,
        __cache_key,
        ::cache_runtime::__private::Policy::new(
                ::core::time::Duration::from_secs(300u64),
            )
            .early_refresh(1f64),
    )
}
#[doc(hidden)]
#[inline]
fn __cache_result_function_of_price() -> ::cache_runtime::__private::CachedFunction {
    let __cache_store: ::core::option::Option<&::cache_runtime::Cache> = ::core::option::Option::Some(
        ::cache_runtime::__private::global(),
    );
    ::cache_runtime::__private::CachedFunction::hashed(
        __cache_store,
        ::core::option::Option::None,
        ::cache_runtime::__private::site({
            let __cache_site = || ();
            ::core::any::type_name_of_val(&__cache_site)
        }),
    )
}
#[doc(hidden)]
#[allow(dead_code, non_camel_case_types, clippy::too_many_arguments)]
fn __cache_result_keys_of_price<item, currency>(
    __cache_keys: &mut ::cache_runtime::__private::KeysBuilder<'_>,
    item: u64,
    currency: String,
) {
    __cache_keys.arg::<item, _>(&item);
    __cache_keys.arg::<currency, _>(&currency);
}
