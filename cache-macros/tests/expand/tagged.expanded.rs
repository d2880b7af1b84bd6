async fn profile(id: u64) -> Profile {
    ::cache_runtime::__private::cooperate().await;
    let (
        __cache_state,
        __cache_identity,
    ): (&'static ::cache_runtime::__private::Site, &'static ::core::primitive::str) = {
        static __CACHE_SITE: ::cache_runtime::__private::Site = ::cache_runtime::__private::Site::new(
            ::cache_runtime::__private::Policy::new(
                ::core::time::Duration::from_secs(600u64),
            ),
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
                    Profile,
                >>::Stored,
            >(),
            ::core::option::Option::None,
            ::core::option::Option::None,
        );
        (&::cache_runtime::__private::KeyProbe(&id)).push_to(&mut __cache_keys);
        __cache_keys.finish()
    };
    let __cache_key = ::cache_runtime::__private::tagged(
        __cache_key,
        __cache_store,
        &[
            ::core::format_args!(
                "user:{}", ::cache_runtime::__private::hole(& (id), "")
            ),
            ::core::format_args!("users",),
        ],
    );
    ::cache_runtime::__private::plain(
            __cache_state,
            __cache_store,
            __cache_key,
            ::cache_runtime::__private::never,
            (&&::cache_runtime::__private::Sharing::<Profile>::NEW).sharer(),
            &mut ::cache_runtime::__private::Body::new(
                ::core::pin::pin!(
                    async move { let __cache_ret : Profile = { Profile::load(id). await
                    }; #[allow(unreachable_code)] __cache_ret }
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
) -> ::cache_runtime::__private::Entry<Profile, ::cache_runtime::__private::Whole> {
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
                    Profile,
                >>::Stored,
            >(),
            ::core::option::Option::None,
            ::core::option::Option::None,
        );
        (&::cache_runtime::__private::KeyProbe(&id)).push_to(&mut __cache_keys);
        __cache_keys.key()
    };
    ::cache_runtime::__private::Entry::new(
            __cache_store,
            __cache_key,
            ::cache_runtime::__private::Policy::new(
                ::core::time::Duration::from_secs(600u64),
            ),
        )
        .tagged(
            &[
                ::core::format_args!(
                    "user:{}", ::cache_runtime::__private::hole(& (id), "")
                ),
                ::core::format_args!("users",),
            ],
        )
}
#[doc(hidden)]
#[inline]
fn __cache_result_function_of_profile() -> ::cache_runtime::__private::CachedFunction {
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
fn __cache_result_keys_of_profile<id>(
    __cache_keys: &mut ::cache_runtime::__private::KeysBuilder<'_>,
    id: u64,
) {
    __cache_keys.arg::<id, _>(&id);
}
