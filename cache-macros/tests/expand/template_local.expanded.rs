async fn profile(id: u64, locale: &str) -> Result<Profile, Error> {
    ::cache_runtime::__private::cooperate().await;
    let (
        __cache_state,
        __cache_identity,
    ): (&'static ::cache_runtime::__private::Site, &'static ::core::primitive::str) = {
        static __CACHE_SITE: ::cache_runtime::__private::Site = ::cache_runtime::__private::Site::new(
            ::cache_runtime::__private::Policy::new(
                    ::core::time::Duration::from_secs(300u64),
                )
                .template("user:{id}")
                .early_refresh(1f64)
                .stale(::core::time::Duration::from_secs(600u64))
                .stale_on_error()
                .local_for(::core::time::Duration::from_secs(5u64)),
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
    let __cache_key = ::cache_runtime::__private::CallKeys::template(
        __cache_state,
        __cache_store,
        ::core::option::Option::None,
        ::core::format_args!("user:{}", ::cache_runtime::__private::hole(& (id), "")),
    );
    ::cache_runtime::__private::ok(
            __cache_state,
            __cache_store,
            __cache_key,
            ::cache_runtime::__private::never,
            (&&::cache_runtime::__private::Sharing::<Result<Profile, Error>>::NEW)
                .sharer(),
            &mut ::cache_runtime::__private::Body::new(
                ::core::pin::pin!(
                    async move { let __cache_ret : Result < Profile, Error > = {
                    Profile::load(id, locale). await }; #[allow(unreachable_code)]
                    __cache_ret }
                ),
            ),
        )
        .await
}
#[doc(hidden)]
#[inline]
#[allow(unused_variables, clippy::too_many_arguments, clippy::needless_pass_by_value)]
fn __cache_result_entry_of_profile(
    id: u64,
    locale: &str,
) -> ::cache_runtime::__private::Entry<
    Result<Profile, Error>,
    ::cache_runtime::__private::OkOnly,
> {
    let __cache_identity = ::cache_runtime::__private::site({
        let __cache_site = || ();
        ::core::any::type_name_of_val(&__cache_site)
    });
    let __cache_store: &::cache_runtime::Cache = ::cache_runtime::__private::global();
    let __cache_key = ::cache_runtime::__private::rendered_key(
        __cache_store,
        ::core::option::Option::None,
        ::core::format_args!("user:{}", ::cache_runtime::__private::hole(& (id), "")),
    );
    ::cache_runtime::__private::Entry::new(
        __cache_store,
        __cache_key,
        ::cache_runtime::__private::Policy::new(
                ::core::time::Duration::from_secs(300u64),
            )
            .template("user:{id}")
            .early_refresh(1f64)
            .stale(::core::time::Duration::from_secs(600u64))
            .stale_on_error()
            .local_for(::core::time::Duration::from_secs(5u64)),
    )
}
#[doc(hidden)]
#[inline]
fn __cache_result_function_of_profile() -> ::cache_runtime::__private::CachedFunction {
    let __cache_store: ::core::option::Option<&::cache_runtime::Cache> = ::core::option::Option::Some(
        ::cache_runtime::__private::global(),
    );
    ::cache_runtime::__private::CachedFunction::template(
        __cache_store,
        ::core::option::Option::None,
        ::cache_runtime::__private::site({
            let __cache_site = || ();
            ::core::any::type_name_of_val(&__cache_site)
        }),
        &["user:", ""],
    )
}
