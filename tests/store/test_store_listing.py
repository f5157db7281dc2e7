"""Listing a caller's jobs page by page, and summing their usage: every backend alike."""

from __future__ import annotations

import pytest
from visionstudio.server.errors import InvalidArgument
from visionstudio.server.spec import Usage
from visionstudio.server.store import JobStatus, JobStore

from tests.store.samples import T0, new_image, new_job


async def test_list_jobs_filters_by_status_and_time(store: JobStore) -> None:
    jobs = [(await store.create_job(new_job(created_at=T0 + i)))[0] for i in range(6)]
    for job in jobs[::2]:
        await store.finish_job(job.id, JobStatus.SUCCEEDED, Usage())
    page = await store.list_jobs("key-a", status=JobStatus.SUCCEEDED)
    assert [j.id for j in page.jobs] == [jobs[4].id, jobs[2].id, jobs[0].id]
    page = await store.list_jobs("key-a", created_after=T0 + 1, created_before=T0 + 4)
    assert [j.id for j in page.jobs] == [jobs[3].id, jobs[2].id, jobs[1].id]
    page = await store.list_jobs("key-a", status=JobStatus.RUNNING, created_after=T0 + 2)
    assert [j.id for j in page.jobs] == [jobs[5].id, jobs[3].id]
    assert page.next_page_token is None


async def test_pages_go_newest_first_without_gaps_or_repeats(store: JobStore) -> None:
    # Three jobs share each second, so the id has to break the ties.
    jobs = [(await store.create_job(new_job(created_at=T0 + i // 3)))[0] for i in range(25)]
    expected = [j.id for j in sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)]
    seen: list[str] = []
    token: str | None = None
    sizes = []
    while True:
        page = await store.list_jobs("key-a", page_size=10, page_token=token)
        seen.extend(j.id for j in page.jobs)
        sizes.append(len(page.jobs))
        if page.next_page_token is None:
            break
        token = page.next_page_token
        # A job created while paging is newer than every page: it shifts nothing.
        await store.create_job(new_job())
    assert sizes == [10, 10, 5]
    assert seen == expected


async def test_bad_page_requests_are_refused(store: JobStore) -> None:
    with pytest.raises(InvalidArgument, match="page_token"):
        await store.list_jobs("key-a", page_token="not a token")
    with pytest.raises(InvalidArgument, match="page_size"):
        await store.list_jobs("key-a", page_size=0)


async def test_a_caller_sees_only_its_own_jobs(store: JobStore) -> None:
    mine, _ = await store.create_job(new_job("key-a"))
    theirs, _ = await store.create_job(new_job("key-b"))
    await store.add_image(new_image(theirs.id, 0))
    await store.finish_job(theirs.id, JobStatus.SUCCEEDED, Usage(total_tokens=50))
    assert [j.id for j in (await store.list_jobs("key-a")).jobs] == [mine.id]
    assert [j.id for j in (await store.list_jobs("key-b")).jobs] == [theirs.id]
    totals = await store.usage("key-a")
    assert (totals.jobs, totals.images, totals.usage) == (1, 0, Usage())


async def test_usage_sums_tokens_and_images_over_a_time_range(store: JobStore) -> None:
    for i, usage in enumerate(
        [Usage(10, 6, 4, 100, 110), Usage(20, 20, 0, 200, 220), Usage(1, 1, 0, 1, 2)]
    ):
        job, _ = await store.create_job(new_job(created_at=T0 + i * 10))
        for index in range(i + 1):
            await store.add_image(new_image(job.id, index))
        await store.finish_job(job.id, JobStatus.SUCCEEDED, usage)
    await store.create_job(new_job(created_at=T0 + 5))  # running: no usage yet
    totals = await store.usage("key-a")
    assert (totals.jobs, totals.images, totals.usage) == (4, 6, Usage(31, 27, 4, 301, 332))
    totals = await store.usage("key-a", since=T0 + 5, until=T0 + 20)
    assert (totals.jobs, totals.images, totals.usage) == (2, 2, Usage(20, 20, 0, 200, 220))
    assert (await store.usage("nobody")).usage == Usage()
