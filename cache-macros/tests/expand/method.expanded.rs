impl<T: Table> Repo<T> {
    pub async fn count(&self, filter: Filter) -> u64 {
        ::cache_runtime::__private::cooperate().await;
        let (
            __cache_state,
            __cache_identity,
        ): (
            &'static ::cache_runtime::__private::Site,
            &'static ::core::primitive::str,
        ) = {
            static __CACHE_SITE: ::cache_runtime::__private::Site = ::cache_runtime::__private::Site::new(
                ::cache_runtime::__private::Policy::new(
                        ::core::time::Duration::from_secs(60u64),
                    )
                    .lock(true),
            );
            __CACHE_SITE
                .instance({
                    let __cache_site = || ();
                    ::core::any::type_name_of_val(&__cache_site)
                })
        };
        #[allow(unused_imports)]
        use ::cache_runtime::__private::{ShareClone as _, ShareJson as _};
        let __cache_store: &::cache_runtime::Cache = &self.cache;
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
            (&::cache_runtime::__private::KeyProbe(&filter)).push_to(&mut __cache_keys);
            __cache_keys.finish()
        };
        ::cache_runtime::__private::plain(
                __cache_state,
                __cache_store,
                __cache_key,
                ::cache_runtime::__private::never,
                (&&::cache_runtime::__private::Sharing::<u64>::NEW).sharer(),
                &mut ::cache_runtime::__private::Body::new(
                    ::core::pin::pin!(
                        async move { let __cache_ret : u64 = { self.table.count(& filter)
                        . await }; #[allow(unreachable_code)] __cache_ret }
                    ),
                ),
            )
            .await
    }
    #[doc(hidden)]
    #[inline]
    #[allow(
        unused_variables,
        clippy::too_many_arguments,
        clippy::needless_pass_by_value
    )]
    pub fn __cache_result_entry_of_count(
        &self,
        filter: Filter,
    ) -> ::cache_runtime::__private::Entry<u64, ::cache_runtime::__private::Whole> {
        let __cache_identity = ::cache_runtime::__private::site({
            let __cache_site = || ();
            ::core::any::type_name_of_val(&__cache_site)
        });
        let __cache_store: &::cache_runtime::Cache = &self.cache;
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
            (&::cache_runtime::__private::KeyProbe(&filter)).push_to(&mut __cache_keys);
            __cache_keys.key()
        };
        ::cache_runtime::__private::Entry::new(
            __cache_store,
            __cache_key,
            ::cache_runtime::__private::Policy::new(
                    ::core::time::Duration::from_secs(60u64),
                )
                .lock(true),
        )
    }
    #[doc(hidden)]
    #[inline]
    pub fn __cache_result_function_of_count(
        &self,
    ) -> ::cache_runtime::__private::CachedFunction {
        let __cache_store: ::core::option::Option<&::cache_runtime::Cache> = {
            let __cache_store: &::cache_runtime::Cache = &self.cache;
            ::core::option::Option::Some(__cache_store)
        };
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
    fn __cache_result_keys_of_count<filter>(
        __cache_keys: &mut ::cache_runtime::__private::KeysBuilder<'_>,
        filter: Filter,
    ) {
        __cache_keys.arg::<filter, _>(&filter);
    }
}
