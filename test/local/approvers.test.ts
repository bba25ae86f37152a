import { LOCAL_APPROVERS_TOPIC_ARN, localApprovers } from '../../local/cloud/simple-ports';

describe("the local cloud's approvers' subscriptions", () => {
  it('counts the rehearsal approver as one confirmed subscription, authenticated (AuthenticateOnUnsubscribe)', async () => {
    await expect(localApprovers().count()).resolves.toEqual({
      topicArn: LOCAL_APPROVERS_TOPIC_ARN,
      confirmed: 1,
      pending: 0,
      authenticated: 1,
    });
  });

  it('treats every confirmed subscription as authenticated unless told otherwise, never more than are confirmed', async () => {
    await expect(localApprovers(3, 1).count()).resolves.toMatchObject({ confirmed: 3, pending: 1, authenticated: 3 });
    await expect(localApprovers(2, 0, 0).count()).resolves.toMatchObject({ confirmed: 2, authenticated: 0 });
    await expect(localApprovers(1, 0, 5).count()).resolves.toMatchObject({ confirmed: 1, authenticated: 1 });
  });
});
